import { signInUrl } from './logic/redirect.js';

/** The session is missing or expired: sign in, then come back here. */
export function goToSignIn(): void {
  window.location.assign(signInUrl(`${window.location.pathname}${window.location.search}`));
}
