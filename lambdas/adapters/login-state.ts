/**
 * The browser's half of one sign-in: a short-lived cookie holding the state, the nonce, the PKCE verifier and
 * where to go afterwards, as a JWT signed by the desk's signer (KMS on AWS), so nobody can forge or alter it.
 *
 * - One cookie per sign-in, named after its state, so sign-ins started in two tabs do not overwrite each other.
 * - `__Host-` prefix when cookies are Secure: a cookie with that name cannot be set by another host, in
 *   particular not by code running on a workspace host `ws-*.<desk domain>` (login CSRF by cookie tossing).
 * - HttpOnly, SameSite=Lax (the provider's redirect back is a top-level GET), Max-Age ten minutes.
 */
import { errors as joseErrors, jwtVerify } from 'jose';
import { ValidationError } from '../core/index.js';
import { publicKeyGetter } from './oidc-identity.js';
import { signJwt, TOKEN_ISSUER, type JwsSigner } from './tokens.js';

/** Audience of login-state tokens (no other desk token passes for one). */
export const LOGIN_STATE_AUDIENCE = 'carrel-login';
export const LOGIN_STATE_TTL_SECONDS = 600;
const COOKIE_BASE = 'carrel_login_';
const STATE = /^[A-Za-z0-9_-]{16,128}$/;

/** The login state is missing, expired, altered or for another sign-in: 400, and the user signs in again. */
export class LoginStateError extends ValidationError {}

export interface LoginState {
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  /** The same-site path to return to after the sign-in. */
  readonly returnTo: string;
}

export class LoginStateCookies {
  private readonly key: () => Promise<CryptoKey>;

  constructor(
    private readonly signer: JwsSigner,
    private readonly options: { readonly secure: boolean; readonly now?: () => Date },
  ) {
    this.key = publicKeyGetter(() => signer.publicKeyPem());
  }

  /** The cookie name for a state (undefined when the state is not one this desk could have made). */
  nameFor(state: string): string | undefined {
    if (!STATE.test(state)) return undefined;
    // The name carries a prefix of the state only: enough to tell concurrent sign-ins apart.
    return `${this.options.secure ? '__Host-' : ''}${COOKIE_BASE}${state.slice(0, 16)}`;
  }

  /** Set-Cookie for a new sign-in. */
  async issue(login: LoginState): Promise<string> {
    const token = await signJwt(
      this.signer,
      { aud: LOGIN_STATE_AUDIENCE, st: login.state, nn: login.nonce, cv: login.codeVerifier, rt: login.returnTo },
      LOGIN_STATE_TTL_SECONDS,
      this.options.now?.(),
    );
    return this.cookie(this.nameFor(login.state) as string, token, LOGIN_STATE_TTL_SECONDS);
  }

  /** Set-Cookie that removes the state cookie of `state` (after the callback, whatever its outcome). */
  clear(state: string | undefined): string[] {
    const name = state ? this.nameFor(state) : undefined;
    return name ? [this.cookie(name, '', 0)] : [];
  }

  /** The login state for `state` from the request's cookies, checked. */
  async read(cookies: Readonly<Record<string, string>>, state: string | undefined): Promise<LoginState> {
    if (!state) throw new LoginStateError('The identity provider sent no state back; sign in again');
    const name = this.nameFor(state);
    const token = name ? cookies[name] : undefined;
    if (!name || !token) {
      throw new LoginStateError(
        'This sign-in is unknown to this browser or took longer than ten minutes (its login state is missing or expired); sign in again',
      );
    }
    let payload;
    try {
      ({ payload } = await jwtVerify(token, await this.key(), {
        issuer: TOKEN_ISSUER,
        audience: LOGIN_STATE_AUDIENCE,
        algorithms: ['ES256'],
        currentDate: this.options.now?.(),
      }));
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw new LoginStateError('This sign-in took longer than ten minutes (its login state expired); sign in again');
      if (error instanceof joseErrors.JOSEError) throw new LoginStateError('The login state of this browser was altered or is not from this desk; sign in again');
      throw error;
    }
    const { st, nn, cv, rt } = payload;
    if (typeof st !== 'string' || typeof nn !== 'string' || typeof cv !== 'string' || typeof rt !== 'string') {
      throw new LoginStateError('The login state of this browser is incomplete; sign in again');
    }
    // The cookie name only carries a prefix of the state: the full value must match too.
    if (st !== state) throw new LoginStateError('The identity provider answered for another sign-in (state mismatch); sign in again');
    return { state: st, nonce: nn, codeVerifier: cv, returnTo: rt };
  }

  private cookie(name: string, value: string, maxAge: number): string {
    return `${name}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${this.options.secure ? '; Secure' : ''}`;
  }
}
