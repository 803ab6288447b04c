/**
 * Local mode's stand-in for the organisation's SSO: a sign-in that issues the same kind of session
 * (an OIDC-style ES256 JWT in the `carrel_session` cookie) the production identity adapter verifies,
 * and publishes its JWKS so the desk verifies it through the very same code path.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { exportJWK, SignJWT, type JWK } from 'jose';
import { z } from 'zod';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

export const LOCAL_AUDIENCE = 'carrel-local';
const SESSION_HOURS = 8;

export interface LocalUserDirectory {
  getUser(userId: string): Promise<{ userId: string; name?: string; roles: readonly string[] } | undefined>;
}

const signInBody = z.object({ username: z.string().trim().min(1, 'Enter a username').max(64, 'That username is too long') }).strict();

export class LocalIdentityProvider {
  private readonly key: KeyObject;
  readonly keyId = 'local-idp';

  constructor(
    privateKeyPem: string,
    readonly issuer: string,
    private readonly users: LocalUserDirectory,
    private readonly options: { cookieName: string; secure: boolean },
  ) {
    this.key = createPrivateKey(privateKeyPem);
  }

  async jwks(): Promise<{ keys: JWK[] }> {
    const jwk = await exportJWK(createPublicKey(this.key));
    return { keys: [{ ...jwk, kid: this.keyId, alg: 'ES256', use: 'sig' }] };
  }

  async issue(user: { userId: string; name?: string; roles: readonly string[] }): Promise<string> {
    return new SignJWT({ name: user.name ?? user.userId, groups: [...user.roles] })
      .setProtectedHeader({ alg: 'ES256', kid: this.keyId, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setAudience(LOCAL_AUDIENCE)
      .setSubject(user.userId)
      .setIssuedAt()
      .setExpirationTime(`${SESSION_HOURS}h`)
      .sign(this.key);
  }

  readonly signIn = async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    let parsed;
    try {
      parsed = signInBody.safeParse(JSON.parse(event.body ?? ''));
    } catch {
      return json(400, { error: { code: 'invalid_request', message: 'The body must be JSON like {"username":"alice"}' } });
    }
    if (!parsed.success) return json(400, { error: { code: 'invalid_request', message: parsed.error.issues[0]?.message ?? 'Invalid sign-in' } });
    const user = await this.users.getUser(parsed.data.username.toLowerCase());
    if (!user) return json(401, { error: { code: 'unauthenticated', message: `No user named "${parsed.data.username}" in this local deployment` } });
    const token = await this.issue(user);
    return { statusCode: 204, cookies: [this.cookie(token, SESSION_HOURS * 3600)], headers: { 'cache-control': 'no-store' } };
  };

  readonly signOut = async (): Promise<APIGatewayProxyStructuredResultV2> => ({
    statusCode: 204,
    cookies: [this.cookie('', 0)],
    headers: { 'cache-control': 'no-store' },
  });

  readonly jwksHandler = async (): Promise<APIGatewayProxyStructuredResultV2> => json(200, await this.jwks());

  private cookie(value: string, maxAge: number) {
    // Host-only (no Domain): workspace hosts never receive the desk session.
    return `${this.options.cookieName}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${this.options.secure ? '; Secure' : ''}`;
  }
}

function json(statusCode: number, body: unknown): APIGatewayProxyStructuredResultV2 {
  return { statusCode, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' }, body: JSON.stringify(body) };
}
