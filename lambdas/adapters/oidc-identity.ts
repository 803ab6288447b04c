/**
 * Identity from a session JWT: the session cookie (`__Host-carrel_session` by default), or `Authorization: Bearer`.
 *
 * The desk's session is a JWT the desk itself signs (with its signer: KMS on AWS, a local key in local mode)
 * after the OpenID Connect sign-in (handlers/auth.ts) has verified the provider's ID token. It holds only
 * `sub`, `name` and `roles`, and lives as long as the desk decides (SESSION_TTL_SECONDS), not as long as the
 * provider's ID token (often five minutes). `deskSessionIdentity` is THE verifier of production and local mode.
 * The same class also verifies a provider's tokens directly (a JWKS URL or key set), which tests use.
 */
import { createLocalJWKSet, createRemoteJWKSet, errors as joseErrors, importSPKI, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { CarrelError, TransientError, UnauthenticatedError, type Clock, type User } from '../core/index.js';
import { signJwt, TOKEN_ISSUER, type JwsSigner } from './tokens.js';

/** Audience of the desk's session tokens (gate cookies and agent tokens have others, so none passes for another). */
export const SESSION_AUDIENCE = 'carrel-session';
/** The session claim holding the roles. */
export const SESSION_ROLES_CLAIM = 'roles';

/** What a request offers to prove who is calling. Header names are lower case. */
export interface SessionCredentials {
  readonly cookies: Readonly<Record<string, string>>;
  /** The `Authorization` header value, if any. */
  readonly authorization?: string;
}

/** Identifies the caller of a desk request (OIDC session here; a catalog call in a Kinetic-style deployment). */
export interface Identity {
  /** The signed-in user, or an UnauthenticatedError saying why not. */
  authenticate(credentials: SessionCredentials): Promise<User>;
}

export interface OidcIdentityOptions {
  readonly issuer: string;
  readonly audience: string;
  /** The identity provider's JWKS endpoint (production)... */
  readonly jwksUrl?: string | URL;
  /** ...or the key set itself... */
  readonly jwks?: JSONWebKeySet;
  /** ...or the SPKI PEM of the desk's own signing key (read on first use). Exactly one of the three. */
  readonly publicKeyPem?: () => Promise<string>;
  /** Claim holding the user's roles: an array of strings or one space-separated string. */
  readonly rolesClaim?: string;
  readonly cookieName?: string;
  readonly clock?: Clock;
  readonly clockToleranceSeconds?: number;
}

const ALGORITHMS = ['ES256', 'RS256'];
const MAX_TOKEN_LENGTH = 8192;

export class OidcIdentity implements Identity {
  private readonly keys: JWTVerifyGetKey;
  private readonly rolesClaim: string;
  private readonly cookieName: string;

  constructor(private readonly options: OidcIdentityOptions) {
    if ([options.jwksUrl, options.jwks, options.publicKeyPem].filter(Boolean).length !== 1) {
      throw new Error('OidcIdentity needs exactly one of jwksUrl, jwks or publicKeyPem');
    }
    this.keys = options.jwksUrl
      ? createRemoteJWKSet(new URL(options.jwksUrl), { cacheMaxAge: 10 * 60_000, cooldownDuration: 30_000, timeoutDuration: 3_000 })
      : options.jwks
        ? createLocalJWKSet(options.jwks)
        : publicKeyGetter(options.publicKeyPem as () => Promise<string>);
    this.rolesClaim = options.rolesClaim ?? 'groups';
    this.cookieName = options.cookieName ?? '__Host-carrel_session';
  }

  async authenticate(credentials: SessionCredentials): Promise<User> {
    const token = this.tokenFrom(credentials);
    if (!token) throw new UnauthenticatedError('You are not signed in: no session was sent');
    if (token.length > MAX_TOKEN_LENGTH) throw new UnauthenticatedError('Your session is not valid; sign in again');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.keys, {
        issuer: this.options.issuer,
        audience: this.options.audience,
        algorithms: ALGORITHMS,
        clockTolerance: this.options.clockToleranceSeconds ?? 30,
        currentDate: this.options.clock?.now(),
        requiredClaims: ['sub', 'exp'],
      }));
    } catch (error) {
      throw mapError(error);
    }
    return this.toUser(payload);
  }

  private tokenFrom({ cookies, authorization }: SessionCredentials): string | undefined {
    const fromCookie = cookies[this.cookieName];
    if (fromCookie) return fromCookie;
    const bearer = authorization?.match(/^Bearer\s+(\S+)\s*$/i);
    return bearer?.[1];
  }

  private toUser(payload: JWTPayload): User {
    const sub = payload.sub;
    // eslint-disable-next-line no-control-regex
    if (typeof sub !== 'string' || sub.length === 0 || sub.length > 255 || /[\u0000-\u001f\u007f\s]/.test(sub)) {
      throw new UnauthenticatedError('Your session is not valid: it names no usable user (sub)');
    }
    const name = typeof payload.name === 'string' && payload.name.trim() ? payload.name.trim() : undefined;
    return { userId: sub, name, roles: rolesFrom(payload[this.rolesClaim]) };
  }
}

/**
 * The key of the desk's signer, read once (KMS GetPublicKey on AWS) and kept; a failed read is retried on
 * the next request and answers 503, since the caller's session may well be fine.
 */
export function publicKeyGetter(read: () => Promise<string>): () => Promise<CryptoKey> {
  let key: Promise<CryptoKey> | undefined;
  return () => {
    key ??= read()
      .then((pem) => importSPKI(pem, 'ES256'))
      .catch((error: unknown) => {
        key = undefined;
        throw error instanceof CarrelError ? error : new TransientError('The desk signing key could not be read', { cause: error });
      });
    return key;
  };
}

/** THE session verifier (AWS and local mode): desk-signed session JWTs in the session cookie. */
export function deskSessionIdentity(signer: Pick<JwsSigner, 'publicKeyPem'>, options: { readonly cookieName: string; readonly clock?: Clock }): OidcIdentity {
  return new OidcIdentity({
    issuer: TOKEN_ISSUER,
    audience: SESSION_AUDIENCE,
    publicKeyPem: () => signer.publicKeyPem(),
    rolesClaim: SESSION_ROLES_CLAIM,
    cookieName: options.cookieName,
    clock: options.clock,
  });
}

/** A desk session for `user`, valid `ttlSeconds` from `now` (what deskSessionIdentity accepts). */
export function signSession(signer: JwsSigner, user: User, ttlSeconds: number, now?: Date): Promise<string> {
  return signJwt(signer, { aud: SESSION_AUDIENCE, sub: user.userId, ...(user.name ? { name: user.name } : {}), [SESSION_ROLES_CLAIM]: [...user.roles] }, ttlSeconds, now);
}

export function rolesFrom(claim: unknown): readonly string[] {
  const values = Array.isArray(claim) ? claim : typeof claim === 'string' ? claim.split(/\s+/) : [];
  return [...new Set(values.filter((v): v is string => typeof v === 'string' && v.length > 0))];
}

function mapError(error: unknown): Error {
  if (error instanceof CarrelError) return error;
  if (error instanceof joseErrors.JWTExpired) {
    return new UnauthenticatedError('Your session has expired; sign in again', { cause: error });
  }
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    return new UnauthenticatedError(`Your session is not valid for this desk (${error.claim} claim); sign in again`, { cause: error });
  }
  // The key set could not be fetched: the provider (or the network) is at fault, not the caller.
  if (
    error instanceof joseErrors.JWKSTimeout ||
    error instanceof joseErrors.JWKSInvalid ||
    !(error instanceof joseErrors.JOSEError) ||
    error.code === joseErrors.JOSEError.code
  ) {
    return new TransientError("The identity provider's signing keys could not be fetched", { cause: error });
  }
  return new UnauthenticatedError('Your session is not valid; sign in again', { cause: error });
}
