/**
 * Sign-in and sign-out: the OpenID Connect Authorization Code flow with PKCE and a nonce, against the
 * configured identity provider (AWS) or the local one (local/idp.ts): the same handlers in both.
 *
 *  - `GET /auth/login?returnTo=/a/<id>`: sets the login-state cookie, redirects to the provider.
 *  - `GET /auth/callback`: checks the state, exchanges the code, verifies the ID token, then sets the desk
 *    session cookie (a desk-signed JWT, see adapters/oidc-identity.ts) and redirects to `returnTo`.
 *  - `POST /auth/logout`: clears the session; continues at the provider's end_session_endpoint when it has one.
 *
 * These are pages, not API calls: failures are answered as an HTML page (http.ts `pageRoute`) with the
 * status of the one error mapper, and set no session.
 */
import * as z from 'zod';
import { NotAllowedError, UnauthenticatedError } from '../core/index.js';
import { newLoginSecrets, pkceChallenge, type OidcRelyingParty } from '../adapters/oidc-client.js';
import { signSession } from '../adapters/oidc-identity.js';
import { LoginStateCookies, LoginStateError } from '../adapters/login-state.js';
import type { AppDeps } from './app.js';
import { header, json, pageRoute, parseCookies, redirect, validate, type HttpHandler } from './http.js';

/** The provider answered the sign-in with an error (the user cancelled, or may not use this client). */
export class SignInRefusedError extends UnauthenticatedError {}

const BASE = 'https://desk.invalid';

/**
 * True for a path on this desk that is safe to redirect to: relative, same origin, and not a sign-in route
 * (never `//evil.example`, `/\evil.example`, `https://...`, control characters or `/auth/...`).
 */
export function isSafeReturnPath(value: string): boolean {
  if (!value.startsWith('/') || value.startsWith('//') || value.length > 2000) return false;
  // Browsers treat "\" like "/" and drop tabs and newlines in URLs: "/\evil" and "/\t/evil" leave the origin.
  // eslint-disable-next-line no-control-regex
  if (/[\\\u0000-\u001f\u007f]/.test(value)) return false;
  if (!URL.canParse(value, BASE)) return false;
  const url = new URL(value, BASE);
  return url.origin === BASE && !url.pathname.startsWith('/auth/');
}

const returnTo = z
  .string()
  .refine(isSafeReturnPath, { error: 'must be a path on this desk, like /a/demo (no other site, no scheme, no //)' })
  .default('/');

const loginQuery = z.object({ returnTo }).strict();

const callbackQuery = z.object({
  code: z.string().min(1).max(4096).optional(),
  state: z.string().max(256).optional(),
  error: z.string().max(200).optional(),
  error_description: z.string().max(500).optional(),
  error_uri: z.string().max(2000).optional(),
  iss: z.string().max(2000).optional(),
  session_state: z.string().max(2000).optional(),
});

type Config = AppDeps['config'];

/** The desk's public origin, e.g. `https://desk.example.org` (the Host the Lambda sees is the API's own). */
export function deskOrigin(config: Pick<Config, 'publicUrlScheme' | 'deskDomain' | 'publicPort'>): string {
  return `${config.publicUrlScheme}://${config.deskDomain}${config.publicPort ? `:${config.publicPort}` : ''}`;
}

/** The redirect URI to register at the identity provider. */
export function callbackUrl(config: Pick<Config, 'publicUrlScheme' | 'deskDomain' | 'publicPort'>): string {
  return `${deskOrigin(config)}/auth/callback`;
}

function sessionCookie(config: Config, value: string, maxAge: number): string {
  // Host-only (no Domain): workspace hosts never receive the desk session.
  return `${config.sessionCookie}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${config.cookieSecure ? '; Secure' : ''}`;
}

function relyingParty(deps: AppDeps): OidcRelyingParty {
  if (!deps.oidc) throw new Error('The sign-in is not wired: AppDeps.oidc is missing');
  return deps.oidc;
}

function loginStates(deps: AppDeps): LoginStateCookies {
  return new LoginStateCookies(deps.signer, { secure: deps.config.cookieSecure, now: () => deps.clock.now() });
}

/** `GET /auth/login?returnTo=/a/<id>`: start a sign-in at the identity provider. */
export function makeLoginHandler(deps: AppDeps): HttpHandler {
  const states = loginStates(deps);
  return pageRoute(deps.log, async (event) => {
    const query = validate(loginQuery, event.queryStringParameters ?? {}, 'query');
    const { state, nonce, codeVerifier } = newLoginSecrets();
    // The provider first: when it cannot be reached, nothing is set.
    const location = await relyingParty(deps).authorizationUrl({ redirectUri: callbackUrl(deps.config), state, nonce, codeChallenge: pkceChallenge(codeVerifier) });
    const cookie = await states.issue({ state, nonce, codeVerifier, returnTo: query.returnTo });
    return redirect(location, [cookie]);
  });
}

/** `GET /auth/callback?code=...&state=...`: finish the sign-in and set the desk session. */
export function makeCallbackHandler(deps: AppDeps): HttpHandler {
  const states = loginStates(deps);
  const stateOf = (event: { queryStringParameters?: Record<string, string | undefined> }) => event.queryStringParameters?.state;
  return pageRoute(
    deps.log,
    async (event) => {
      const query = validate(callbackQuery, event.queryStringParameters ?? {}, 'query');
      // The state first: only an answer to a sign-in this browser started is looked at any further.
      const login = await states.read(parseCookies(event), query.state);
      if (query.error) {
        throw new SignInRefusedError(`The identity provider did not sign you in (${query.error}${query.error_description ? `: ${query.error_description}` : ''})`);
      }
      // RFC 9207: when the provider names itself, it must be the configured one (mix-up defence).
      if (query.iss !== undefined && query.iss !== deps.config.oidc.issuer) throw new LoginStateError('The sign-in answer comes from another identity provider (iss); sign in again');
      if (!query.code) throw new LoginStateError('The identity provider sent no authorization code; sign in again');
      const oidc = relyingParty(deps);
      const redirectUri = callbackUrl(deps.config);
      const idToken = await oidc.exchangeCode({ code: query.code, codeVerifier: login.codeVerifier, redirectUri });
      const user = await oidc.verifyIdToken(idToken, login.nonce);
      const session = await signSession(deps.signer, user, deps.config.sessionTtlSeconds, deps.clock.now());
      deps.log.info('signed in', { userId: user.userId });
      // Checked when the sign-in started, and again here: the state is signed, but a redirect is never open.
      const target = isSafeReturnPath(login.returnTo) ? login.returnTo : '/';
      return redirect(target, [sessionCookie(deps.config, session, deps.config.sessionTtlSeconds), ...states.clear(login.state)]);
    },
    // Whatever went wrong, this sign-in's state is spent.
    (event) => states.clear(stateOf(event)),
  );
}

/**
 * `POST /auth/logout`: clear the session and continue at the provider's end_session_endpoint (or the desk).
 * A form post gets a 303 redirect; a script asking for JSON gets `{ redirect }` to navigate to itself.
 */
export function makeLogoutHandler(deps: AppDeps): HttpHandler {
  return pageRoute(deps.log, async (event) => {
    // Browsers say when a request comes from another site: a page elsewhere may not sign anyone out.
    if (header(event, 'sec-fetch-site') === 'cross-site') throw new NotAllowedError('Signing out is only possible from the desk itself');
    let location = '/';
    try {
      location = (await relyingParty(deps).endSessionUrl(`${deskOrigin(deps.config)}/`)) ?? '/';
    } catch (error) {
      // Signing out of the desk never fails because the provider is away; its own session then stays.
      deps.log.warn('the identity provider end-session address is unavailable', { error: error instanceof Error ? error.message : String(error) });
    }
    const cookies = [sessionCookie(deps.config, '', 0)];
    if (/application\/json/i.test(header(event, 'accept') ?? '')) return json(200, { redirect: location }, { cookies });
    return redirect(location, cookies, 303);
  });
}
