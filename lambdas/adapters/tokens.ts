/**
 * Tokens the front desk signs and others verify:
 *  - the gate cookie, one per workspace host: `carrel_gate_<hostLabel>`, audience = the workspace hostname;
 *  - the agent token a gate uses to report activity for its own workspace only.
 *
 * Signing is ES256 through a `JwsSigner` (a local key, or KMS on AWS, so the private key never leaves it);
 * verifiers need only the public key, so no gate holds a secret that could forge another's cookie.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as nodeSign, type KeyObject } from 'node:crypto';
import { importSPKI, jwtVerify, errors as joseErrors } from 'jose';

export const TOKEN_ISSUER = 'carrel-desk';
export const AGENT_AUDIENCE = 'carrel-agent';
export const GATE_COOKIE_PREFIX = 'carrel_gate_';

export function gateCookieName(hostLabel: string): string {
  return `${GATE_COOKIE_PREFIX}${hostLabel.replace(/[^a-z0-9-]/g, '')}`;
}

/** Produces raw (r||s, 64 bytes) ECDSA P-256 SHA-256 signatures. */
export interface JwsSigner {
  readonly keyId: string;
  sign(data: Uint8Array): Promise<Uint8Array>;
  /** SPKI PEM of the verifying key. */
  publicKeyPem(): Promise<string>;
}

/** A signer over a PKCS#8 PEM key held by this process (local mode, tests). */
export class LocalKeySigner implements JwsSigner {
  private readonly key: KeyObject;
  constructor(privateKeyPem: string, readonly keyId = 'local') {
    this.key = createPrivateKey(privateKeyPem);
  }
  static generatePem(): string {
    return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  }
  async sign(data: Uint8Array): Promise<Uint8Array> {
    return nodeSign('sha256', data, { key: this.key, dsaEncoding: 'ieee-p1363' });
  }
  async publicKeyPem(): Promise<string> {
    return createPublicKey(this.key).export({ type: 'spki', format: 'pem' }).toString();
  }
}

const b64url = (data: Uint8Array | string) => Buffer.from(data).toString('base64url');

export async function signJwt(signer: JwsSigner, claims: Record<string, unknown>, ttlSeconds: number, now = new Date()): Promise<string> {
  const iat = Math.floor(now.getTime() / 1000);
  const header = b64url(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: signer.keyId }));
  const payload = b64url(JSON.stringify({ iss: TOKEN_ISSUER, iat, exp: iat + ttlSeconds, ...claims }));
  const signature = await signer.sign(Buffer.from(`${header}.${payload}`));
  return `${header}.${payload}.${b64url(signature)}`;
}

export interface GateClaims {
  /** Researcher the cookie was issued to. */
  readonly userId: string;
  readonly workspaceId: string;
  readonly generation: number;
  /** The workspace hostname the cookie opens (its audience). */
  readonly hostname: string;
}

export function signGateCookie(signer: JwsSigner, claims: GateClaims, ttlSeconds: number, now?: Date): Promise<string> {
  return signJwt(signer, { aud: claims.hostname, sub: claims.userId, wid: claims.workspaceId, gen: claims.generation }, ttlSeconds, now);
}

export interface AgentClaims {
  readonly analysisId: string;
  readonly userId: string;
  readonly workspaceId: string;
  readonly generation: number;
}

export function signAgentToken(signer: JwsSigner, claims: AgentClaims, ttlSeconds: number, now?: Date): Promise<string> {
  return signJwt(
    signer,
    { aud: AGENT_AUDIENCE, sub: claims.userId, ana: claims.analysisId, wid: claims.workspaceId, gen: claims.generation },
    ttlSeconds,
    now,
  );
}

export class InvalidTokenError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InvalidTokenError';
  }
}

/** Verifies tokens signed by the desk with only its public key. */
export class TokenVerifier {
  private constructor(private readonly key: CryptoKey | Uint8Array | KeyObject) {}

  static async fromPem(spkiPem: string): Promise<TokenVerifier> {
    return new TokenVerifier(await importSPKI(spkiPem, 'ES256'));
  }

  async verifyGateCookie(token: string, hostname: string, now?: Date): Promise<GateClaims> {
    const payload = await this.verify(token, hostname, now);
    if (typeof payload.sub !== 'string' || typeof payload.wid !== 'string' || typeof payload.gen !== 'number') {
      throw new InvalidTokenError('The workspace cookie is missing claims');
    }
    return { userId: payload.sub, workspaceId: payload.wid, generation: payload.gen, hostname };
  }

  async verifyAgentToken(token: string, now?: Date): Promise<AgentClaims> {
    const payload = await this.verify(token, AGENT_AUDIENCE, now);
    if (typeof payload.sub !== 'string' || typeof payload.ana !== 'string' || typeof payload.wid !== 'string' || typeof payload.gen !== 'number') {
      throw new InvalidTokenError('The agent token is missing claims');
    }
    return { userId: payload.sub, analysisId: payload.ana, workspaceId: payload.wid, generation: payload.gen };
  }

  private async verify(token: string, audience: string, now?: Date) {
    try {
      const { payload } = await jwtVerify(token, this.key, { issuer: TOKEN_ISSUER, audience, algorithms: ['ES256'], currentDate: now });
      return payload;
    } catch (error) {
      const reason = error instanceof joseErrors.JWTExpired ? 'expired' : error instanceof joseErrors.JWTClaimValidationFailed ? 'not for this audience' : 'invalid';
      throw new InvalidTokenError(`Token ${reason}`, { cause: error });
    }
  }
}
