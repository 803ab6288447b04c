/**
 * The desk as an OpenID Connect relying party: the Authorization Code flow with PKCE (S256) and a nonce.
 *
 * - Discovery (`<issuer>/.well-known/openid-configuration`) is fetched on first use and kept for an hour
 *   per container; a failed fetch is not kept, so the next sign-in tries again.
 * - The code is exchanged at the token endpoint with the client secret (client_secret_basic, or
 *   client_secret_post where the provider supports only that) or, for a public client, with client_id alone;
 *   PKCE protects the code either way.
 * - The ID token is verified with jose against the provider's JWKS (cached, refreshed on an unknown `kid`):
 *   signature, issuer, audience (and `azp` when there are several audiences), expiry, and the nonce.
 *
 * Every call to the provider has a time limit. Failures are `IdentityProviderError` (the provider is
 * unreachable or answered wrongly: 502) or `IdTokenRejectedError` (the answer does not prove who signed in: 401).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createRemoteJWKSet, customFetch, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import * as z from 'zod';
import { CarrelError, UnauthenticatedError, type Clock, type User } from '../core/index.js';
import { rolesFrom } from './oidc-identity.js';

/** The identity provider could not be reached in time, or answered in a way the flow cannot use. */
export class IdentityProviderError extends CarrelError {}

/** The provider's ID token does not prove a sign-in for this desk and this browser (bad signature, claim or nonce). */
export class IdTokenRejectedError extends UnauthenticatedError {}

export interface OidcClientOptions {
  /** The issuer identifier; discovery is read from `<issuer>/.well-known/openid-configuration`. */
  readonly issuer: string;
  readonly clientId: string;
  /** The client secret (read lazily, e.g. from Secrets Manager); undefined: a public client. */
  readonly clientSecret?: () => Promise<string | undefined>;
  /** Scopes asked for; `openid` is always included. */
  readonly scopes?: readonly string[];
  /** Claim of the ID token that lists the user's roles. @default groups */
  readonly rolesClaim?: string;
  /** Time limit of each call to the provider. @default 5000 */
  readonly timeoutMs?: number;
  /** How long the discovery document is kept. @default one hour */
  readonly discoveryTtlMs?: number;
  readonly clock?: Clock;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

const metadataSchema = z.object({
  issuer: z.string(),
  authorization_endpoint: z.url({ protocol: /^https?$/ }),
  token_endpoint: z.url({ protocol: /^https?$/ }),
  jwks_uri: z.url({ protocol: /^https?$/ }),
  end_session_endpoint: z.url({ protocol: /^https?$/ }).optional(),
  token_endpoint_auth_methods_supported: z.array(z.string()).optional(),
  code_challenge_methods_supported: z.array(z.string()).optional(),
  id_token_signing_alg_values_supported: z.array(z.string()).optional(),
});
export type ProviderMetadata = z.output<typeof metadataSchema>;

const tokenResponseSchema = z.object({ id_token: z.string().min(1), token_type: z.string().optional() });
const tokenErrorSchema = z.object({ error: z.string().max(100), error_description: z.string().max(500).optional() });

/** Asymmetric algorithms only: an ID token MAC'd with the client secret (HS256) is refused. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const MAX_ID_TOKEN_LENGTH = 16_384;

export interface AuthorizationRequest {
  readonly redirectUri: string;
  readonly state: string;
  readonly nonce: string;
  /** PKCE S256 challenge of the verifier kept in the browser's login state. */
  readonly codeChallenge: string;
}

/** Random values of one sign-in: state, nonce and the PKCE verifier (43 characters, RFC 7636). */
export function newLoginSecrets(): { state: string; nonce: string; codeVerifier: string } {
  const random = (bytes: number) => randomBytes(bytes).toString('base64url');
  return { state: random(24), nonce: random(24), codeVerifier: random(32) };
}

export function pkceChallenge(codeVerifier: string): string {
  return createHash('sha256').update(codeVerifier).digest('base64url');
}

/** What the sign-in handlers need from the identity provider (OidcClient; tests may pass their own). */
export type OidcRelyingParty = Pick<OidcClient, 'authorizationUrl' | 'exchangeCode' | 'verifyIdToken' | 'endSessionUrl'>;

export class OidcClient {
  private metadataCache?: { readonly value: Promise<ProviderMetadata>; readonly at: number };
  private jwks?: { readonly uri: string; readonly keys: JWTVerifyGetKey };
  private readonly fetchImpl: typeof fetch;
  private readonly timeoutMs: number;

  constructor(private readonly options: OidcClientOptions) {
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.timeoutMs = options.timeoutMs ?? 5_000;
  }

  private now(): Date {
    return this.options.clock?.now() ?? new Date();
  }

  /** The provider's discovery document, fetched once per `discoveryTtlMs`. */
  metadata(): Promise<ProviderMetadata> {
    const ttl = this.options.discoveryTtlMs ?? 3_600_000;
    const at = this.now().getTime();
    if (!this.metadataCache || at - this.metadataCache.at > ttl) {
      const value = this.fetchMetadata();
      const entry = { value, at };
      this.metadataCache = entry;
      // A failed discovery is forgotten, so the next sign-in asks again.
      value.catch(() => {
        if (this.metadataCache === entry) this.metadataCache = undefined;
      });
    }
    return this.metadataCache.value;
  }

  private async fetchMetadata(): Promise<ProviderMetadata> {
    const url = `${this.options.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const response = await this.call(url, { headers: { accept: 'application/json' } }, 'discovery');
    if (!response.ok) throw new IdentityProviderError(`The identity provider's discovery document answered HTTP ${response.status}`);
    const parsed = metadataSchema.safeParse(await this.jsonOf(response, 'discovery'));
    if (!parsed.success) {
      throw new IdentityProviderError(`The identity provider's discovery document is incomplete (${parsed.error.issues.map((i) => i.path.join('.')).join(', ')})`);
    }
    // OpenID Connect Discovery 1.0 §4.3: the document must name exactly the issuer it was fetched for.
    if (parsed.data.issuer !== this.options.issuer) {
      throw new IdentityProviderError(`The identity provider's discovery document names issuer ${parsed.data.issuer}, not the configured ${this.options.issuer}`);
    }
    const methods = parsed.data.code_challenge_methods_supported;
    if (methods && !methods.includes('S256')) throw new IdentityProviderError('The identity provider does not support PKCE with S256');
    return parsed.data;
  }

  /** Where to send the browser to sign in. */
  async authorizationUrl(request: AuthorizationRequest): Promise<string> {
    const metadata = await this.metadata();
    const url = new URL(metadata.authorization_endpoint);
    const scopes = new Set(['openid', ...(this.options.scopes ?? ['profile'])]);
    const params = {
      response_type: 'code',
      client_id: this.options.clientId,
      redirect_uri: request.redirectUri,
      scope: [...scopes].join(' '),
      state: request.state,
      nonce: request.nonce,
      code_challenge: request.codeChallenge,
      code_challenge_method: 'S256',
    };
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    return url.toString();
  }

  /** Exchange the authorization code for the ID token (not yet verified). */
  async exchangeCode(input: { readonly code: string; readonly codeVerifier: string; readonly redirectUri: string }): Promise<string> {
    const metadata = await this.metadata();
    const body = new URLSearchParams({ grant_type: 'authorization_code', code: input.code, redirect_uri: input.redirectUri, code_verifier: input.codeVerifier });
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    const secret = await this.options.clientSecret?.();
    const methods = metadata.token_endpoint_auth_methods_supported ?? ['client_secret_basic'];
    if (secret && !methods.includes('client_secret_basic') && methods.includes('client_secret_post')) {
      body.set('client_id', this.options.clientId);
      body.set('client_secret', secret);
    } else if (secret) {
      // RFC 6749 §2.3.1: id and secret are form-encoded before they are joined.
      const basic = Buffer.from(`${formEncode(this.options.clientId)}:${formEncode(secret)}`).toString('base64');
      headers.authorization = `Basic ${basic}`;
    } else {
      body.set('client_id', this.options.clientId);
    }
    const response = await this.call(metadata.token_endpoint, { method: 'POST', headers, body: body.toString() }, 'token endpoint');
    const json = await this.jsonOf(response, 'token endpoint').catch((error: unknown) => {
      if (response.ok) throw error;
      return undefined;
    });
    if (!response.ok) {
      const refusal = tokenErrorSchema.safeParse(json);
      const what = refusal.success ? `${refusal.data.error}${refusal.data.error_description ? `: ${refusal.data.error_description}` : ''}` : `HTTP ${response.status}`;
      if (response.status >= 400 && response.status < 500 && refusal.success && refusal.data.error === 'invalid_grant') {
        // The code was used already or expired (a reload of the callback, a slow browser): the user can simply sign in again.
        throw new IdTokenRejectedError(`The identity provider no longer accepts this sign-in (${what}); sign in again`);
      }
      throw new IdentityProviderError(`The identity provider's token endpoint refused the sign-in (${what})`);
    }
    const parsed = tokenResponseSchema.safeParse(json);
    if (!parsed.success) throw new IdentityProviderError("The identity provider's token endpoint returned no ID token");
    if (parsed.data.id_token.length > MAX_ID_TOKEN_LENGTH) throw new IdentityProviderError("The identity provider's ID token is too large");
    return parsed.data.id_token;
  }

  /** Verify the ID token and return who signed in. */
  async verifyIdToken(idToken: string, expectedNonce: string): Promise<User> {
    const metadata = await this.metadata();
    const keys = this.keysFor(metadata.jwks_uri);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(idToken, keys, {
        issuer: this.options.issuer,
        audience: this.options.clientId,
        algorithms: ALGORITHMS,
        clockTolerance: 60,
        currentDate: this.options.clock?.now(),
        requiredClaims: ['sub', 'exp', 'iat', 'nonce'],
      }));
    } catch (error) {
      throw mapVerifyError(error);
    }
    // OpenID Connect Core §3.1.3.7: with several audiences, azp must be this client.
    if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp !== this.options.clientId) {
      throw new IdTokenRejectedError('The ID token was issued to another client (azp claim); sign in again');
    }
    if (payload.nonce !== expectedNonce) throw new IdTokenRejectedError('The ID token was not issued for this sign-in (nonce claim); sign in again');
    const sub = payload.sub;
    // eslint-disable-next-line no-control-regex
    if (typeof sub !== 'string' || !sub || sub.length > 255 || /[\u0000-\u001f\u007f\s]/.test(sub)) {
      throw new IdTokenRejectedError('The ID token names no usable user (sub claim)');
    }
    const name = [payload.name, payload.preferred_username, payload.email].find((v): v is string => typeof v === 'string' && v.trim() !== '');
    return { userId: sub, name: name?.trim(), roles: rolesFrom(payload[this.options.rolesClaim ?? 'groups']) };
  }

  /** The provider's RP-initiated logout address, when it has one. */
  async endSessionUrl(postLogoutRedirectUri: string): Promise<string | undefined> {
    const metadata = await this.metadata();
    if (!metadata.end_session_endpoint) return undefined;
    const url = new URL(metadata.end_session_endpoint);
    url.searchParams.set('client_id', this.options.clientId);
    url.searchParams.set('post_logout_redirect_uri', postLogoutRedirectUri);
    return url.toString();
  }

  private keysFor(uri: string): JWTVerifyGetKey {
    if (this.jwks?.uri !== uri) {
      this.jwks = {
        uri,
        keys: createRemoteJWKSet(new URL(uri), {
          timeoutDuration: this.timeoutMs,
          cacheMaxAge: 10 * 60_000,
          cooldownDuration: 30_000,
          ...(this.options.fetch ? { [customFetch]: (url: string, init: RequestInit) => this.fetchImpl(url, init) } : {}),
        }),
      };
    }
    return this.jwks.keys;
  }

  private async call(url: string, init: RequestInit, what: string): Promise<Response> {
    try {
      return await this.fetchImpl(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (error) {
      const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
      throw new IdentityProviderError(
        timedOut ? `The identity provider's ${what} did not answer within ${this.timeoutMs / 1000} s` : `The identity provider's ${what} could not be reached`,
        { cause: error },
      );
    }
  }

  private async jsonOf(response: Response, what: string): Promise<unknown> {
    try {
      return await response.json();
    } catch (error) {
      throw new IdentityProviderError(`The identity provider's ${what} did not answer with JSON (HTTP ${response.status})`, { cause: error });
    }
  }
}

function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

function mapVerifyError(error: unknown): Error {
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid || !(error instanceof joseErrors.JOSEError) || error.code === joseErrors.JOSEError.code) {
    return new IdentityProviderError("The identity provider's signing keys could not be fetched", { cause: error });
  }
  if (error instanceof joseErrors.JWTExpired) return new IdTokenRejectedError('The ID token has expired; sign in again', { cause: error });
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    return new IdTokenRejectedError(`The ID token is not valid for this desk (${error.claim} claim); sign in again`, { cause: error });
  }
  return new IdTokenRejectedError('The ID token could not be verified (signature); sign in again', { cause: error });
}
