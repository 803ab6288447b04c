/**
 * Identity from an OIDC-style session JWT: the `carrel_session` cookie, or `Authorization: Bearer`.
 *
 * Production verifies against the identity provider's JWKS URL (fetched once, cached, refreshed on an
 * unknown `kid`); local mode hands the JWKS of its local sign-in directly. Both take the same path.
 */
import { createLocalJWKSet, createRemoteJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { TransientError, UnauthenticatedError, type Clock, type User } from '../core/index.js';

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
  /** ...or the key set itself (local mode). Exactly one of the two. */
  readonly jwks?: JSONWebKeySet;
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
    if (Boolean(options.jwksUrl) === Boolean(options.jwks)) {
      throw new Error('OidcIdentity needs exactly one of jwksUrl or jwks');
    }
    this.keys = options.jwksUrl
      ? createRemoteJWKSet(new URL(options.jwksUrl), { cacheMaxAge: 10 * 60_000, cooldownDuration: 30_000, timeoutDuration: 3_000 })
      : createLocalJWKSet(options.jwks as JSONWebKeySet);
    this.rolesClaim = options.rolesClaim ?? 'groups';
    this.cookieName = options.cookieName ?? 'carrel_session';
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

export function rolesFrom(claim: unknown): readonly string[] {
  const values = Array.isArray(claim) ? claim : typeof claim === 'string' ? claim.split(/\s+/) : [];
  return [...new Set(values.filter((v): v is string => typeof v === 'string' && v.length > 0))];
}

function mapError(error: unknown): Error {
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
