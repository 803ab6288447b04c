/**
 * Helpers for handler tests: API Gateway v2 events, a test identity provider (ES256 keys, sessions),
 * and AppDeps made of the in-memory fakes plus a real LocalKeySigner, TokenVerifier and OidcIdentity.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { exportJWK, generateKeyPair, SignJWT, type JSONWebKeySet, type JWTPayload } from 'jose';
import { OidcIdentity } from '../../lambdas/adapters/oidc-identity.js';
import { LocalKeySigner, TokenVerifier } from '../../lambdas/adapters/tokens.js';
import type { AppDeps } from '../../lambdas/handlers/app.js';
import { loadConfig, type DeskConfig } from '../../lambdas/handlers/config.js';
import type { HttpResult } from '../../lambdas/handlers/http.js';
import { DESK_DOMAIN, makeDeps, type FakeDeps } from '../support/fakes.js';

export const ISSUER = 'https://idp.test/realms/carrel';
export const AUDIENCE = 'carrel-desk';

export const TEST_ENV = {
  TABLE_NAME: 'carrel-test',
  DEPLOYMENT_ID: 'test-deployment',
  DESK_DOMAIN,
  SIGNING_KEY_ID: 'alias/carrel-test',
  OIDC_ISSUER: ISSUER,
  OIDC_AUDIENCE: AUDIENCE,
  OIDC_JWKS_URL: 'https://idp.test/realms/carrel/jwks',
} as const;

/**
 * What CDK gives every desk function, enough for an entry point's top level to run here: TEST_ENV with a fresh
 * PEM signing key (so no KMS call is needed), a region, and Powertools silenced.
 */
export function entryEnv(): Record<string, string> {
  return { ...TEST_ENV, SIGNING_KEY_ID: '', SIGNING_KEY_PEM: LocalKeySigner.generatePem(), AWS_REGION: 'eu-west-2', POWERTOOLS_LOG_LEVEL: 'SILENT' };
}

/** An identity provider: a key pair and its JWKS; `session()` mints a session token. */
export class TestIdp {
  private constructor(
    private readonly privateKey: CryptoKey,
    readonly jwks: JSONWebKeySet,
    readonly kid: string,
  ) {}

  static async create(kid = 'idp-key-1'): Promise<TestIdp> {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
    return new TestIdp(privateKey, { keys: [jwk] }, kid);
  }

  /** A session for `sub`, valid for an hour from `now`; `claims` override any claim (e.g. `aud`, `exp`). */
  async session(sub: string, options: { now?: Date; claims?: JWTPayload; name?: string; groups?: unknown } = {}): Promise<string> {
    const iat = Math.floor((options.now ?? new Date()).getTime() / 1000);
    const payload: JWTPayload = { iss: ISSUER, aud: AUDIENCE, sub, iat, exp: iat + 3600, name: options.name ?? sub, groups: options.groups ?? ['researcher'], ...options.claims };
    for (const [key, value] of Object.entries(payload)) if (value === undefined) delete payload[key];
    return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: this.kid, typ: 'JWT' }).sign(this.privateKey);
  }
}

export type TestDeps = FakeDeps & AppDeps & { readonly idp: TestIdp; readonly signer: LocalKeySigner; readonly verifier: TokenVerifier };

/** AppDeps over fresh fakes; the identity trusts `idp` only, the signer is a fresh local key. */
export async function makeAppDeps(overrides: { env?: Record<string, string | undefined> } = {}): Promise<TestDeps> {
  const idp = await TestIdp.create();
  const config: DeskConfig = loadConfig({ ...TEST_ENV, ...overrides.env });
  const core = makeDeps({ policy: config.policy });
  const signer = new LocalKeySigner(LocalKeySigner.generatePem(), 'desk-test');
  const verifier = await TokenVerifier.fromPem(await signer.publicKeyPem());
  const identity = new OidcIdentity({
    issuer: config.oidc.issuer,
    audience: config.oidc.audience,
    jwks: idp.jwks,
    rolesClaim: config.oidc.rolesClaim,
    cookieName: config.sessionCookie,
    clock: core.clock,
  });
  return { ...core, identity, signer, verifier, config, idp };
}

export interface EventOptions {
  readonly method?: string;
  readonly pathParameters?: Record<string, string>;
  readonly query?: Record<string, string>;
  /** A value to JSON-encode, or a raw string sent as is. */
  readonly body?: unknown;
  readonly rawBody?: string;
  readonly isBase64Encoded?: boolean;
  readonly cookies?: readonly string[];
  readonly headers?: Record<string, string>;
}

/** An API Gateway HTTP API (payload 2.0) event for `routeKey`, e.g. `POST /api/workspaces/{analysisId}/open`. */
export function httpEvent(routeKey: string, options: EventOptions = {}): APIGatewayProxyEventV2 {
  const [method, template] = routeKey.split(' ');
  const rawPath = template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(options.pathParameters?.[name] ?? ''));
  const body = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  const headers: Record<string, string> = { host: `api.${DESK_DOMAIN}`, 'user-agent': 'test', ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers };
  return {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString: new URLSearchParams(options.query ?? {}).toString(),
    headers,
    ...(options.cookies ? { cookies: [...options.cookies] } : {}),
    ...(options.query ? { queryStringParameters: { ...options.query } } : {}),
    ...(options.pathParameters ? { pathParameters: { ...options.pathParameters } } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: `api.${DESK_DOMAIN}`,
      domainPrefix: 'api',
      http: { method: options.method ?? method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '192.0.2.1', userAgent: 'test' },
      requestId: 'req-123',
      routeKey,
      stage: '$default',
      time: '01/Jan/2030:09:00:00 +0000',
      timeEpoch: 1_893_488_400_000,
    },
    body,
    isBase64Encoded: options.isBase64Encoded ?? false,
  };
}

export const ROUTES = {
  me: 'GET /api/me',
  open: 'POST /api/workspaces/{analysisId}/open',
  status: 'GET /api/workspaces/{analysisId}',
  heartbeat: 'POST /api/workspaces/{analysisId}/heartbeat',
  stop: 'POST /api/workspaces/{analysisId}/stop',
  agentActivity: 'POST /api/agent/activity',
} as const;

export function sessionCookie(token: string, name = '__Host-carrel_session'): string {
  return `${name}=${token}`;
}

/** The JSON body of a result (or undefined for an empty body). */
export function bodyOf<T = any>(result: HttpResult): T {
  return (result.body ? JSON.parse(result.body) : undefined) as T;
}

/** Parse one Set-Cookie line into its name, value and attributes (lower-cased attribute names). */
export function parseSetCookie(line: string): { name: string; value: string; attributes: Record<string, string | true> } {
  const [pair, ...rest] = line.split(';').map((part) => part.trim());
  const eq = pair.indexOf('=');
  const attributes: Record<string, string | true> = {};
  for (const attribute of rest) {
    const i = attribute.indexOf('=');
    if (i < 0) attributes[attribute.toLowerCase()] = true;
    else attributes[attribute.slice(0, i).toLowerCase()] = attribute.slice(i + 1);
  }
  return { name: pair.slice(0, eq), value: pair.slice(eq + 1), attributes };
}
