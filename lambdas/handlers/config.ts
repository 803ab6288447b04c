/**
 * The desk's configuration: the Lambda environment of docs/contracts.md, read once and validated with zod.
 * A bad or missing setting fails at start with a message that names it.
 */
import { createPrivateKey } from 'node:crypto';
import { z } from 'zod';
import { DEFAULT_POLICY, type LifecyclePolicy } from '../core/index.js';

/** A setting is missing or malformed; `issues` names each one (`SETTING: what is wrong`). */
export class ConfigError extends Error {
  constructor(readonly issues: readonly string[]) {
    super(`Invalid configuration: ${issues.join('; ')}`);
    this.name = 'ConfigError';
  }
}

export interface DeskConfig {
  readonly tableName: string;
  readonly deploymentId: string;
  /** Workspaces get hostnames `ws-<random>.<deskDomain>`. */
  readonly deskDomain: string;
  /** `Domain` of the gate cookies: the desk domain or a parent of it. */
  readonly cookieDomain: string;
  readonly publicUrlScheme: 'https' | 'http';
  readonly publicPort?: number;
  readonly cookieSecure: boolean;
  /** KMS key (AWS) or a PKCS#8 PEM held by the process (local mode). */
  readonly signing: { readonly kind: 'kms'; readonly keyId: string } | { readonly kind: 'pem'; readonly pem: string };
  readonly oidc: {
    readonly issuer: string;
    readonly audience: string;
    /** Where the identity provider publishes its keys; local mode may hand a JWKS object instead. */
    readonly jwksUrl?: string;
    readonly rolesClaim: string;
  };
  readonly sessionCookie: string;
  readonly policy: LifecyclePolicy;
  readonly gateCookieTtlSeconds: number;
  readonly agentTokenTtlSeconds: number;
  readonly heartbeatSeconds: number;
  readonly serviceName?: string;
  readonly logLevel?: string;
}

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const COOKIE_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

const required = (what: string) => z.string({ error: `is required (${what})` }).trim().min(1, { error: `is required (${what})` });
const dnsName = (what: string) =>
  required(what)
    .toLowerCase()
    .regex(DNS_NAME, { error: `must be a DNS name like desk.example.org (${what})` });
const whole = (unit: string, fallback: number, min = 1) =>
  z.coerce
    .number({ error: `must be a whole number of ${unit}` })
    .int({ error: `must be a whole number of ${unit}` })
    .min(min, { error: `must be at least ${min} ${unit}` })
    .default(fallback);
const seconds = (fallback: number, min = 1) => whole('seconds', fallback, min);
const flag = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');
const httpUrl = (what: string) =>
  required(what).refine((v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol), { error: `must be an http(s) URL (${what})` });

const envSchema = z
  .object({
    TABLE_NAME: required('the DynamoDB table name'),
    DEPLOYMENT_ID: required('the tag value marking this deployment').regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
      error: 'must be 1-64 letters, digits, dots, underscores or hyphens',
    }),
    DESK_DOMAIN: dnsName('workspaces are ws-x.<DESK_DOMAIN>'),
    COOKIE_DOMAIN: dnsName('the Domain of the gate cookies').optional(),
    PUBLIC_URL_SCHEME: z.enum(['https', 'http'], { error: 'must be https or http' }).default('https'),
    PUBLIC_PORT: z.coerce
      .number({ error: 'must be a port number' })
      .int({ error: 'must be a port number' })
      .min(1, { error: 'must be a port number (1-65535)' })
      .max(65535, { error: 'must be a port number (1-65535)' })
      .optional(),
    COOKIE_SECURE: flag(true),
    SIGNING_KEY_ID: required('a KMS key id or ARN').optional(),
    SIGNING_KEY_PEM: required('a PKCS#8 PEM private key')
      .transform((v) => v.replace(/\\n/g, '\n'))
      .refine(isPrivateKeyPem, { error: 'must be a PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----)' })
      .optional(),
    OIDC_ISSUER: required('the identity provider issuer'),
    OIDC_AUDIENCE: required('the audience of the session token'),
    OIDC_JWKS_URL: httpUrl("the identity provider's JWKS URL").optional(),
    OIDC_ROLES_CLAIM: z.string().trim().min(1, { error: 'must not be empty' }).default('groups'),
    SESSION_COOKIE: z.string().trim().regex(COOKIE_NAME, { error: 'must be a valid cookie name' }).default('carrel_session'),
    IDLE_TIMEOUT_SECONDS: seconds(1800),
    IDLE_WARNING_SECONDS: seconds(60),
    STOPPED_RETENTION_HOURS: whole('hours', 168),
    GATE_COOKIE_TTL_SECONDS: seconds(900, 30),
    AGENT_TOKEN_TTL_SECONDS: seconds(2_592_000, 60),
    HEARTBEAT_SECONDS: seconds(60),
    POWERTOOLS_SERVICE_NAME: z.string().optional(),
    POWERTOOLS_LOG_LEVEL: z
      .string()
      .toUpperCase()
      .pipe(z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'], { error: 'must be one of DEBUG, INFO, WARN, ERROR, SILENT' }))
      .optional(),
  })
  .superRefine((env, ctx) => {
    const issue = (setting: string, message: string) => ctx.addIssue({ code: 'custom', path: [setting], message });
    const cookieDomain = env.COOKIE_DOMAIN ?? env.DESK_DOMAIN;
    if (env.DESK_DOMAIN !== cookieDomain && !env.DESK_DOMAIN.endsWith(`.${cookieDomain}`)) {
      issue('COOKIE_DOMAIN', `must be DESK_DOMAIN (${env.DESK_DOMAIN}) or a parent domain of it`);
    }
    if (env.IDLE_WARNING_SECONDS >= env.IDLE_TIMEOUT_SECONDS) issue('IDLE_WARNING_SECONDS', 'must be shorter than IDLE_TIMEOUT_SECONDS');
    if (env.GATE_COOKIE_TTL_SECONDS <= env.HEARTBEAT_SECONDS) {
      issue('GATE_COOKIE_TTL_SECONDS', 'must be longer than HEARTBEAT_SECONDS (the heartbeat refreshes the cookie)');
    }
  });

function isPrivateKeyPem(pem: string): boolean {
  try {
    return createPrivateKey(pem).asymmetricKeyType === 'ec';
  } catch {
    return false;
  }
}

/**
 * Read and validate the environment once. Empty values count as unset (CDK and shells often pass "").
 * Throws a ConfigError naming every bad setting.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): DeskConfig {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value.trim() !== ''));
  const parsed = envSchema.safeParse(present);
  // Checked apart from the schema so it is reported even when other settings are bad too.
  const signing =
    !present.SIGNING_KEY_ID && !present.SIGNING_KEY_PEM
      ? ['SIGNING_KEY_ID is required (or SIGNING_KEY_PEM in local mode)']
      : present.SIGNING_KEY_ID && present.SIGNING_KEY_PEM
        ? ['SIGNING_KEY_PEM must not be set together with SIGNING_KEY_ID: choose one key']
        : [];
  if (!parsed.success || signing.length) {
    const issues = parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.') || 'environment'} ${issue.message}`);
    throw new ConfigError([...issues, ...signing]);
  }
  const e = parsed.data;
  return {
    tableName: e.TABLE_NAME,
    deploymentId: e.DEPLOYMENT_ID,
    deskDomain: e.DESK_DOMAIN,
    cookieDomain: e.COOKIE_DOMAIN ?? e.DESK_DOMAIN,
    publicUrlScheme: e.PUBLIC_URL_SCHEME,
    publicPort: e.PUBLIC_PORT,
    cookieSecure: e.COOKIE_SECURE,
    signing: e.SIGNING_KEY_ID ? { kind: 'kms', keyId: e.SIGNING_KEY_ID } : { kind: 'pem', pem: e.SIGNING_KEY_PEM as string },
    oidc: { issuer: e.OIDC_ISSUER, audience: e.OIDC_AUDIENCE, jwksUrl: e.OIDC_JWKS_URL, rolesClaim: e.OIDC_ROLES_CLAIM },
    sessionCookie: e.SESSION_COOKIE,
    policy: {
      deadlines: DEFAULT_POLICY.deadlines,
      idleTimeoutMs: e.IDLE_TIMEOUT_SECONDS * 1000,
      idleWarningMs: e.IDLE_WARNING_SECONDS * 1000,
      stoppedRetentionMs: e.STOPPED_RETENTION_HOURS * 3_600_000,
    },
    gateCookieTtlSeconds: e.GATE_COOKIE_TTL_SECONDS,
    agentTokenTtlSeconds: e.AGENT_TOKEN_TTL_SECONDS,
    heartbeatSeconds: e.HEARTBEAT_SECONDS,
    serviceName: e.POWERTOOLS_SERVICE_NAME,
    logLevel: e.POWERTOOLS_LOG_LEVEL,
  };
}
