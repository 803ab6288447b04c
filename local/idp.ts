/**
 * Local mode's stand-in for the organisation's SSO: a small OpenID Connect provider, so `npm start` signs in
 * through exactly the desk's production sign-in handlers (lambdas/handlers/auth.ts) over real HTTP.
 *
 *  - `GET  /local-idp/.well-known/openid-configuration`  discovery
 *  - `GET  /local-idp/authorize`   checks the request (code, PKCE S256, registered redirect URI), then shows
 *                                   the front desk's sign-in page (`/sign-in?request=<id>`: choose alice, bob, ...)
 *  - `POST /local-idp/sign-in`     `{request, username}` from that page → `{redirect}` back to the desk with a code
 *  - `POST /local-idp/token`       authorization_code grant for a public client, PKCE checked → ES256 ID token
 *  - `GET  /local-idp/jwks.json`   its public key
 *  - `GET  /local-idp/end-session` RP-initiated logout: back to a registered post-logout address
 *
 * Requests and codes live in memory for a few minutes; codes are single-use. There is no password: this is a
 * development tool on 127.0.0.1, like the rest of local mode.
 */
import { createHash, createPrivateKey, createPublicKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import { exportJWK, SignJWT, type JWK } from 'jose';
import * as z from 'zod';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/** The desk's client id at the local provider (the audience of its ID tokens). */
export const LOCAL_CLIENT_ID = 'carrel-local';
/** @deprecated the client id: kept for callers of the former name. */
export const LOCAL_AUDIENCE = LOCAL_CLIENT_ID;
/** Where the local provider lives on the desk's origin. */
export const LOCAL_IDP_PATH = '/local-idp';

const REQUEST_TTL_MS = 10 * 60_000;
const CODE_TTL_MS = 60_000;
/** Short on purpose, like many providers: the desk's own session outlives it. */
const ID_TOKEN_SECONDS = 300;

export interface LocalUserDirectory {
  getUser(userId: string): Promise<{ userId: string; name?: string; roles: readonly string[] } | undefined>;
}

export interface LocalIdpOptions {
  /** The desk's client id. @default carrel-local */
  readonly clientId?: string;
  /** Redirect URIs registered for the desk (exact match, as a real provider does). */
  readonly redirectUris: readonly string[];
  /** Addresses the end-session endpoint may return to. */
  readonly postLogoutRedirectUris: readonly string[];
  /** The page where the user chooses who to be (served by the front desk). @default /sign-in */
  readonly signInPage?: string;
  readonly now?: () => number;
}

type Result = APIGatewayProxyStructuredResultV2;
type Handler = (event: APIGatewayProxyEventV2) => Promise<Result>;

const authorizeQuery = z.object({
  response_type: z.literal('code', { error: 'must be code' }),
  client_id: z.string().min(1),
  redirect_uri: z.string().min(1),
  scope: z.string().refine((s) => s.split(' ').includes('openid'), { error: 'must include openid' }),
  state: z.string().min(1).max(512),
  nonce: z.string().min(1).max(512),
  code_challenge: z.string().regex(/^[A-Za-z0-9_-]{43}$/, { error: 'must be a S256 PKCE challenge' }),
  code_challenge_method: z.literal('S256', { error: 'must be S256' }),
});
type AuthorizeRequest = z.output<typeof authorizeQuery>;

const signInBody = z
  .object({
    request: z.string().min(1, 'The sign-in request is missing: start again from the desk').max(64),
    username: z.string().trim().min(1, 'Enter a username').max(64, 'That username is too long'),
  })
  .strict();

interface IssuedCode {
  readonly request: AuthorizeRequest;
  readonly user: { userId: string; name?: string; roles: readonly string[] };
  readonly expiresAt: number;
}

export class LocalIdentityProvider {
  private readonly key: KeyObject;
  readonly keyId = 'local-idp';
  readonly clientId: string;
  private readonly requests = new Map<string, { readonly request: AuthorizeRequest; readonly expiresAt: number }>();
  private readonly codes = new Map<string, IssuedCode>();
  private readonly now: () => number;

  constructor(
    privateKeyPem: string,
    /** e.g. `http://app.localhost:8080/local-idp` */
    readonly issuer: string,
    private readonly users: LocalUserDirectory,
    private readonly options: LocalIdpOptions,
  ) {
    this.key = createPrivateKey(privateKeyPem);
    this.clientId = options.clientId ?? LOCAL_CLIENT_ID;
    this.now = options.now ?? Date.now;
  }

  /** The routes to serve on the desk's origin (paths under /local-idp). */
  routes(): { method: 'GET' | 'POST'; path: string; handler: Handler }[] {
    return [
      { method: 'GET', path: `${LOCAL_IDP_PATH}/.well-known/openid-configuration`, handler: this.discovery },
      { method: 'GET', path: `${LOCAL_IDP_PATH}/authorize`, handler: this.authorize },
      { method: 'POST', path: `${LOCAL_IDP_PATH}/sign-in`, handler: this.signIn },
      { method: 'POST', path: `${LOCAL_IDP_PATH}/token`, handler: this.token },
      { method: 'GET', path: `${LOCAL_IDP_PATH}/jwks.json`, handler: this.jwksHandler },
      { method: 'GET', path: `${LOCAL_IDP_PATH}/end-session`, handler: this.endSession },
    ];
  }

  async jwks(): Promise<{ keys: JWK[] }> {
    const jwk = await exportJWK(createPublicKey(this.key));
    return { keys: [{ ...jwk, kid: this.keyId, alg: 'ES256', use: 'sig' }] };
  }

  readonly discovery: Handler = async () =>
    json(200, {
      issuer: this.issuer,
      authorization_endpoint: `${this.issuer}/authorize`,
      token_endpoint: `${this.issuer}/token`,
      jwks_uri: `${this.issuer}/jwks.json`,
      end_session_endpoint: `${this.issuer}/end-session`,
      response_types_supported: ['code'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['ES256'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['none'],
      scopes_supported: ['openid', 'profile', 'groups'],
      claims_supported: ['sub', 'name', 'groups', 'nonce'],
    });

  /** Checks the authorization request, then hands over to the sign-in page. */
  readonly authorize: Handler = async (event) => {
    const query = event.queryStringParameters ?? {};
    // Until the client and its redirect URI are known good, errors are shown here, never redirected (RFC 6749 §4.1.2.1).
    if (query.client_id !== this.clientId) return page(400, 'Unknown client', `This provider knows no client "${query.client_id ?? ''}".`);
    if (!query.redirect_uri || !this.options.redirectUris.includes(query.redirect_uri)) {
      return page(400, 'Unregistered redirect URI', `"${query.redirect_uri ?? ''}" is not a redirect URI registered for ${this.clientId}.`);
    }
    const parsed = authorizeQuery.safeParse(query);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return backTo(query.redirect_uri, { error: 'invalid_request', error_description: `${issue?.path.join('.')} ${issue?.message}`, state: query.state, iss: this.issuer });
    }
    this.prune();
    const id = random(18);
    this.requests.set(id, { request: parsed.data, expiresAt: this.now() + REQUEST_TTL_MS });
    return { statusCode: 302, headers: { location: `${this.options.signInPage ?? '/sign-in'}?request=${id}`, 'cache-control': 'no-store' } };
  };

  /** The sign-in page's form: who to be. Answers where the browser goes next (back to the desk with a code). */
  readonly signIn: Handler = async (event) => {
    let parsed;
    try {
      parsed = signInBody.safeParse(JSON.parse(event.body ?? ''));
    } catch {
      return apiError(400, 'invalid_request', 'The body must be JSON like {"request":"...","username":"alice"}');
    }
    if (!parsed.success) return apiError(400, 'invalid_request', parsed.error.issues[0]?.message ?? 'Invalid sign-in');
    const pending = this.requests.get(parsed.data.request);
    if (!pending || pending.expiresAt < this.now()) {
      return apiError(400, 'invalid_request', 'This sign-in page has expired. Go back to the desk and open your analysis again.');
    }
    const user = await this.users.getUser(parsed.data.username.toLowerCase());
    if (!user) return apiError(401, 'unauthenticated', `No user named "${parsed.data.username}" in this local deployment`);
    this.requests.delete(parsed.data.request);
    const code = random(24);
    this.codes.set(code, { request: pending.request, user, expiresAt: this.now() + CODE_TTL_MS });
    const redirect = new URL(pending.request.redirect_uri);
    redirect.searchParams.set('code', code);
    redirect.searchParams.set('state', pending.request.state);
    redirect.searchParams.set('iss', this.issuer);
    return json(200, { redirect: redirect.toString() });
  };

  /** The token endpoint: authorization_code for a public client, PKCE verified. */
  readonly token: Handler = async (event) => {
    const raw = event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64').toString('utf8') : (event.body ?? '');
    const form = new URLSearchParams(raw);
    if (form.get('grant_type') !== 'authorization_code') return oauthError(400, 'unsupported_grant_type', 'Only authorization_code is supported');
    const code = form.get('code') ?? '';
    const issued = this.codes.get(code);
    // Single use: a code is gone once presented, whatever happens next.
    this.codes.delete(code);
    if (!issued || issued.expiresAt < this.now()) return oauthError(400, 'invalid_grant', 'The code is unknown, used or expired');
    const clientId = form.get('client_id') ?? basicClientId(event.headers?.authorization);
    if (clientId !== issued.request.client_id) return oauthError(401, 'invalid_client', 'The code was issued to another client');
    if (form.get('redirect_uri') !== issued.request.redirect_uri) return oauthError(400, 'invalid_grant', 'redirect_uri differs from the authorization request');
    const verifier = form.get('code_verifier') ?? '';
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || !equal(challenge, issued.request.code_challenge)) {
      return oauthError(400, 'invalid_grant', 'The PKCE code_verifier does not match the code_challenge');
    }
    const idToken = await this.idToken(issued.user, issued.request.nonce);
    return json(200, { access_token: random(24), token_type: 'Bearer', expires_in: ID_TOKEN_SECONDS, id_token: idToken, scope: issued.request.scope });
  };

  readonly jwksHandler: Handler = async () => json(200, await this.jwks());

  /** RP-initiated logout: this provider keeps no session of its own, so it only sends the browser back. */
  readonly endSession: Handler = async (event) => {
    const target = event.queryStringParameters?.post_logout_redirect_uri;
    if (!target) return page(200, 'Signed out', 'You are signed out.');
    if (!this.options.postLogoutRedirectUris.includes(target)) return page(400, 'Unregistered address', `"${target}" is not a registered post-logout address.`);
    return { statusCode: 302, headers: { location: target, 'cache-control': 'no-store' } };
  };

  private idToken(user: { userId: string; name?: string; roles: readonly string[] }, nonce: string): Promise<string> {
    const iat = Math.floor(this.now() / 1000);
    return new SignJWT({ name: user.name ?? user.userId, groups: [...user.roles], nonce, auth_time: iat })
      .setProtectedHeader({ alg: 'ES256', kid: this.keyId, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setAudience(this.clientId)
      .setSubject(user.userId)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ID_TOKEN_SECONDS)
      .sign(this.key);
  }

  private prune(): void {
    const now = this.now();
    for (const [id, entry] of this.requests) if (entry.expiresAt < now) this.requests.delete(id);
    for (const [code, entry] of this.codes) if (entry.expiresAt < now) this.codes.delete(code);
  }
}

/**
 * A fetch for the desk's server side in local mode: Node does not resolve `*.localhost`, so requests to the
 * desk's own host go to 127.0.0.1 on the same port with the Host header a browser would send.
 */
export function loopbackFetch(deskDomain: string): typeof fetch {
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.hostname !== deskDomain) return fetch(input, init);
    const host = url.host;
    url.hostname = '127.0.0.1';
    const headers = new Headers(init?.headers);
    headers.set('host', host);
    return fetch(url, { ...init, headers });
  };
}

function random(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

function equal(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

function basicClientId(authorization: string | undefined): string | undefined {
  const match = authorization?.match(/^Basic\s+(\S+)$/i);
  if (!match) return undefined;
  const [id] = Buffer.from(match[1], 'base64').toString('utf8').split(':');
  return id ? decodeURIComponent(id.replace(/\+/g, ' ')) : undefined;
}

function backTo(redirectUri: string, params: Record<string, string | undefined>): Result {
  const url = new URL(redirectUri);
  for (const [name, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(name, value);
  return { statusCode: 302, headers: { location: url.toString(), 'cache-control': 'no-store' } };
}

function json(statusCode: number, body: unknown): Result {
  return { statusCode, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' }, body: JSON.stringify(body) };
}

function apiError(statusCode: number, code: string, message: string): Result {
  return json(statusCode, { error: { code, message } });
}

function oauthError(statusCode: number, error: string, description: string): Result {
  return json(statusCode, { error, error_description: description });
}

function page(statusCode: number, title: string, text: string): Result {
  const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return {
    statusCode,
    headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' },
    body: `<!doctype html><meta charset="utf-8"><title>${escape(title)}</title><h1>${escape(title)}</h1><p>${escape(text)}</p>`,
  };
}
