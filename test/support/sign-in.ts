/**
 * Sign in to the local runtime the way a browser does: the desk's /auth/login, the local identity provider's
 * authorize endpoint and sign-in form, then the desk's /auth/callback. The jar ends up with the session.
 */
import { call, CookieJar, type Reply } from './http.js';

export class SignInError extends Error {
  constructor(step: string, reply: Reply) {
    super(`sign-in failed at ${step}: HTTP ${reply.status} ${reply.body.slice(0, 300)}`);
    this.name = 'SignInError';
  }
}

/** Path and query of an absolute or relative location. */
export function pathOf(location: string): string {
  const url = new URL(location, 'http://app.localhost');
  return `${url.pathname}${url.search}`;
}

export async function signInThroughIdp(port: number, host: string, username: string, options: { jar?: CookieJar; returnTo?: string } = {}): Promise<{ jar: CookieJar; location: string }> {
  const jar = options.jar ?? new CookieJar();
  const login = await call(port, host, 'GET', `/auth/login?returnTo=${encodeURIComponent(options.returnTo ?? '/')}`, { jar });
  if (login.status !== 302) throw new SignInError('/auth/login', login);
  const authorize = await call(port, host, 'GET', pathOf(String(login.headers.location)), { jar });
  if (authorize.status !== 302) throw new SignInError('the authorize endpoint', authorize);
  const request = new URL(String(authorize.headers.location), 'http://app.localhost').searchParams.get('request');
  const form = await call(port, host, 'POST', '/local-idp/sign-in', { jar, body: { request, username } });
  if (form.status !== 200) throw new SignInError('the sign-in form', form);
  const callback = await call(port, host, 'GET', pathOf(form.json().redirect), { jar });
  if (callback.status !== 302) throw new SignInError('/auth/callback', callback);
  return { jar, location: String(callback.headers.location) };
}
