/**
 * The desk's configuration: the Lambda environment of docs/contracts.md, read once and validated with zod.
 * A bad or missing setting fails at start with a message that names it.
 */
import { createPrivateKey } from 'node:crypto';
import * as z from 'zod';
import { DEFAULT_POLICY, type LifecyclePolicy } from '../core/index.js';
import { workspaceSizesSchema, type WorkspaceSizes } from '../adapters/aws/workspace-sizes.js';

/** A setting is missing or malformed; `issues` names each one (`SETTING: what is wrong`). */
export class ConfigError extends Error {
  constructor(readonly issues: readonly string[]) {
    super(`Invalid configuration: ${issues.join('; ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * The session cookie's default name with Secure cookies. The `__Host-` prefix makes browsers refuse it from
 * anywhere but the desk's own host (no Domain, Path=/, Secure): code on a `ws-*` workspace host cannot plant
 * a session (its own, say) on the desk.
 */
export const SECURE_SESSION_COOKIE = '__Host-carrel_session';

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
    /** Unused since the sign-in reads `jwks_uri` from discovery; kept so existing environments stay valid. */
    readonly jwksUrl?: string;
    readonly rolesClaim: string;
    /** The client id registered at the provider: the audience of its ID tokens (OIDC_CLIENT_ID, else OIDC_AUDIENCE). */
    readonly clientId: string;
    /** Secrets Manager secret holding the client secret; unset: a public client (PKCE only). */
    readonly clientSecretArn?: string;
    /** Scopes asked for besides `openid`. */
    readonly scopes: readonly string[];
  };
  readonly sessionCookie: string;
  /** How long the desk session lasts after a sign-in. */
  readonly sessionTtlSeconds: number;
  readonly policy: LifecyclePolicy;
  readonly gateCookieTtlSeconds: number;
  readonly agentTokenTtlSeconds: number;
  readonly heartbeatSeconds: number;
  readonly serviceName?: string;
  readonly logLevel?: string;
  /** AWS workspaces (issue 4): compute, homes, hostnames. Parts left unset keep the unconfigured adapters. */
  readonly workspaces: WorkspacesConfig;
}

/** Settings every compute kind shares. */
interface ComputeCommon {
  readonly sizes: WorkspaceSizes;
  /** Subnets across two zones, in the order launches try them on capacity errors. */
  readonly subnetIds: readonly string[];
  readonly securityGroupIds: readonly string[];
}

export interface Ec2ComputeConfig extends ComputeCommon {
  readonly kind: 'ec2';
  readonly launchTemplateId: string;
  readonly hibernate: boolean;
  /**
   * The provisioner Lambda, invoked asynchronously when an instance runs. Unset only in the provisioner
   * itself (recognised by PROVISIONER_SSH_KEY_SECRET_ARN), which never hands provisioning on.
   */
  readonly provisionerFunctionName?: string;
  /** Spare instances kept running per size (core/pool.ts); absent or all zero: no warm pool. */
  readonly warmPool?: { readonly targets: Readonly<Record<string, number>>; readonly forResume: boolean };
}

export interface FargateComputeConfig extends ComputeCommon {
  readonly kind: 'fargate';
  readonly clusterArn: string;
  readonly taskDefinitionArn: string;
  /** The homes file system: each task mounts its home from it (EFS_FILE_SYSTEM_ID). */
  readonly fileSystemId: string;
}

export interface WorkspacesConfig {
  /** Undefined when COMPUTE_KIND is unset: opens fail with a clear reason. */
  readonly compute?: Ec2ComputeConfig | FargateComputeConfig;
  /** EFS homes; undefined when EFS_FILE_SYSTEM_ID is unset. */
  readonly homes?: { readonly fileSystemId: string; readonly uid: number; readonly gid: number };
  /** Route 53 hostnames; undefined when HOSTED_ZONE_ID is unset. */
  readonly hostnames?: { readonly hostedZoneId: string; readonly ttlSeconds: number };
  /** Which IP of a workspace its hostname points at. */
  readonly address: 'private' | 'public';
  /** The gate's HTTPS port on workspaces. */
  readonly gatePort: number;
  /** Secrets Manager secret with the provisioner's SSH private key (the provisioner only). */
  readonly provisionerSshKeySecretArn?: string;
  /** Secrets Manager secret `{certificate, privateKey, expiresAt}` for `*.<desk domain>`. */
  readonly gateCertificateSecretArn?: string;
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
const port = (fallback: number) =>
  z.coerce
    .number({ error: 'must be a port number' })
    .int({ error: 'must be a port number' })
    .min(1, { error: 'must be a port number (1-65535)' })
    .max(65535, { error: 'must be a port number (1-65535)' })
    .default(fallback);
const posixId = (fallback: number) =>
  z.coerce
    .number({ error: 'must be a numeric POSIX id' })
    .int({ error: 'must be a numeric POSIX id' })
    .min(1, { error: 'must be 1 or more (homes are never owned by root)' })
    .max(4_294_967_294, { error: 'must be a numeric POSIX id' })
    .default(fallback);
const pattern = (what: string, regex: RegExp, example: string) =>
  required(what).regex(regex, { error: `must be ${example} (${what})` });
const secretArn = (what: string) => pattern(what, /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/, 'a Secrets Manager secret ARN');
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
    OIDC_ISSUER: httpUrl('the identity provider issuer; discovery is read from <issuer>/.well-known/openid-configuration'),
    OIDC_AUDIENCE: required('the audience of the session token'),
    OIDC_JWKS_URL: httpUrl("the identity provider's JWKS URL").optional(),
    OIDC_ROLES_CLAIM: z.string().trim().min(1, { error: 'must not be empty' }).default('groups'),
    OIDC_CLIENT_ID: required('the client id registered at the identity provider').optional(),
    OIDC_CLIENT_SECRET_ARN: secretArn('the client secret').optional(),
    OIDC_SCOPES: z
      .string()
      .trim()
      .regex(/^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$/, { error: 'must be scopes separated by spaces, like "profile email groups"' })
      .default('profile'),
    SESSION_TTL_SECONDS: seconds(28_800, 300).refine((v) => v <= 7 * 86_400, { error: 'must be at most 604800 (7 days)' }),
    // Default: `__Host-carrel_session` with Secure cookies (no workspace host can plant one), else `carrel_session`.
    SESSION_COOKIE: z.string().trim().regex(COOKIE_NAME, { error: 'must be a valid cookie name' }).optional(),
    IDLE_TIMEOUT_SECONDS: seconds(1800),
    IDLE_WARNING_SECONDS: seconds(60),
    STOPPED_RETENTION_HOURS: whole('hours', 168),
    GATE_COOKIE_TTL_SECONDS: seconds(900, 30),
    AGENT_TOKEN_TTL_SECONDS: seconds(2_592_000, 60),
    HEARTBEAT_SECONDS: seconds(60),
    COMPUTE_KIND: z.enum(['ec2', 'fargate'], { error: 'must be ec2 or fargate (or unset: no compute)' }).optional(),
    WORKSPACE_SIZES: required('workspace sizes as JSON').transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be JSON like {"small":{"instanceTypes":["t4g.large"],"cpu":1024,"memoryMiB":4096}}' });
        return z.NEVER;
      }
    }).pipe(workspaceSizesSchema).optional(),
    WORKSPACE_SUBNET_IDS: required('comma-separated subnet ids')
      .transform((v) => v.split(',').map((id) => id.trim()).filter(Boolean))
      .refine((ids) => ids.length > 0 && ids.every((id) => /^subnet-[0-9a-f]{8,17}$/.test(id)), { error: 'must be subnet ids like subnet-0123456789abcdef0, separated by commas' })
      .optional(),
    WORKSPACE_SECURITY_GROUP_ID: pattern('the workspace security group', /^sg-[0-9a-f]{8,17}$/, 'a security group id like sg-0123456789abcdef0').optional(),
    WORKSPACE_ADDRESS: z.enum(['private', 'public'], { error: 'must be private or public' }).default('private'),
    LAUNCH_TEMPLATE_ID: pattern('the workspace launch template', /^lt-[0-9a-f]{8,17}$/, 'a launch template id like lt-0123456789abcdef0').optional(),
    HIBERNATE: flag(false),
    WARM_POOL: z
      .string()
      .transform((text, ctx) => {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          ctx.addIssue({ code: 'custom', message: 'must be JSON like {"small":2} (spare instances per size)' });
          return z.NEVER;
        }
      })
      .pipe(z.record(z.string(), z.number({ error: 'must be a whole number of spares' }).int({ error: 'must be a whole number of spares' }).min(0).max(50, { error: 'must be at most 50' })))
      .optional(),
    WARM_POOL_FOR_RESUME: flag(true),
    ECS_CLUSTER_ARN: pattern('the ECS cluster', /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster\/.+$/, 'an ECS cluster ARN').optional(),
    TASK_DEFINITION_ARN: pattern('the workspace task definition', /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition\/.+$/, 'an ECS task definition ARN').optional(),
    EFS_FILE_SYSTEM_ID: pattern('the homes file system', /^fs-[0-9a-f]{8,17}$/, 'an EFS file system id like fs-0123456789abcdef0').optional(),
    HOME_UID: posixId(1000),
    HOME_GID: posixId(1000),
    HOSTED_ZONE_ID: required('the Route 53 zone of the desk domain')
      .transform((v) => v.replace(/^\/hostedzone\//, ''))
      .pipe(z.string().regex(/^Z[A-Z0-9]{1,31}$/, { error: 'must be a Route 53 hosted zone id like Z0123456789ABCDEFGHIJ' }))
      .optional(),
    HOSTNAME_TTL_SECONDS: seconds(60),
    GATE_PORT: port(443),
    PROVISIONER_FUNCTION_NAME: pattern(
      'the provisioner Lambda',
      /^(arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:)?[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]+)?$/,
      'a Lambda function name or ARN',
    ).optional(),
    PROVISIONER_SSH_KEY_SECRET_ARN: secretArn("the provisioner's SSH key").optional(),
    GATE_CERTIFICATE_SECRET_ARN: secretArn("the gates' certificate").optional(),
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
    if (env.SESSION_COOKIE?.startsWith('__Host-') && !env.COOKIE_SECURE) {
      issue('SESSION_COOKIE', 'a __Host- cookie needs COOKIE_SECURE=true (browsers refuse it otherwise)');
    }
    if (env.IDLE_WARNING_SECONDS >= env.IDLE_TIMEOUT_SECONDS) issue('IDLE_WARNING_SECONDS', 'must be shorter than IDLE_TIMEOUT_SECONDS');
    if (env.GATE_COOKIE_TTL_SECONDS <= env.HEARTBEAT_SECONDS) {
      issue('GATE_COOKIE_TTL_SECONDS', 'must be longer than HEARTBEAT_SECONDS (the heartbeat refreshes the cookie)');
    }
    checkSizes(env, issue);
    if (env.WARM_POOL && Object.values(env.WARM_POOL).some((n) => n > 0)) {
      if (env.COMPUTE_KIND !== 'ec2') issue('WARM_POOL', 'needs COMPUTE_KIND=ec2 (a Fargate task cannot take a home after it started)');
      for (const size of Object.keys(env.WARM_POOL)) {
        if (env.WORKSPACE_SIZES && !(size in env.WORKSPACE_SIZES)) issue(`WARM_POOL.${size}`, `is not a size in WORKSPACE_SIZES (${Object.keys(env.WORKSPACE_SIZES).join(', ')})`);
      }
    }
  });

/** Settings each compute kind needs, and the ones that only make sense with a compute kind. */
const COMPUTE_SETTINGS = {
  ec2: ['WORKSPACE_SIZES', 'WORKSPACE_SUBNET_IDS', 'WORKSPACE_SECURITY_GROUP_ID', 'LAUNCH_TEMPLATE_ID', 'EFS_FILE_SYSTEM_ID', 'HOSTED_ZONE_ID', 'PROVISIONER_FUNCTION_NAME'],
  fargate: ['WORKSPACE_SIZES', 'WORKSPACE_SUBNET_IDS', 'WORKSPACE_SECURITY_GROUP_ID', 'ECS_CLUSTER_ARN', 'TASK_DEFINITION_ARN', 'EFS_FILE_SYSTEM_ID', 'HOSTED_ZONE_ID'],
} as const;
const KIND_ONLY = ['WORKSPACE_SIZES', 'WORKSPACE_SUBNET_IDS', 'WORKSPACE_SECURITY_GROUP_ID', 'LAUNCH_TEMPLATE_ID', 'ECS_CLUSTER_ARN', 'TASK_DEFINITION_ARN', 'PROVISIONER_FUNCTION_NAME'] as const;

/**
 * The settings a compute kind needs, checked on the raw environment apart from the schema (like the
 * signing key), so they are reported together with any other bad setting.
 */
function missingComputeSettings(present: Readonly<Record<string, string | undefined>>): string[] {
  const kind = present.COMPUTE_KIND;
  if (kind === undefined) {
    const given = KIND_ONLY.filter((name) => present[name] !== undefined);
    return given.length ? [`COMPUTE_KIND is required when ${given.join(', ')} ${given.length > 1 ? 'are' : 'is'} set (ec2 or fargate)`] : [];
  }
  if (kind !== 'ec2' && kind !== 'fargate') return [];
  // The provisioner (it alone holds the SSH key) runs with the desk's settings but invokes no provisioner.
  const isProvisioner = present.PROVISIONER_SSH_KEY_SECRET_ARN !== undefined;
  return COMPUTE_SETTINGS[kind]
    .filter((name) => present[name] === undefined && !(name === 'PROVISIONER_FUNCTION_NAME' && isProvisioner))
    .map((name) => `${name} is required when COMPUTE_KIND is ${kind}`);
}

/** On Fargate every size needs cpu and memoryMiB (the schema already checked each size on its own). */
function checkSizes(env: { COMPUTE_KIND?: 'ec2' | 'fargate'; WORKSPACE_SIZES?: WorkspaceSizes }, issue: (setting: string, message: string) => void): void {
  if (env.COMPUTE_KIND !== 'fargate' || !env.WORKSPACE_SIZES) return;
  for (const [name, size] of Object.entries(env.WORKSPACE_SIZES)) {
    if (size.cpu === undefined) issue(`WORKSPACE_SIZES.${name}`, 'needs cpu and memoryMiB for Fargate');
  }
}

/** A record key's own message (e.g. a size name) rather than zod's generic "Invalid key in record". */
function messageOf(issue: z.core.$ZodIssue): string {
  return issue.code === 'invalid_key' && issue.issues[0] ? issue.issues[0].message : issue.message;
}

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
  const compute = missingComputeSettings(present);
  if (!parsed.success || signing.length || compute.length) {
    const issues = parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.') || 'environment'} ${messageOf(issue)}`);
    throw new ConfigError([...issues, ...signing, ...compute]);
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
    oidc: {
      issuer: e.OIDC_ISSUER,
      audience: e.OIDC_AUDIENCE,
      jwksUrl: e.OIDC_JWKS_URL,
      rolesClaim: e.OIDC_ROLES_CLAIM,
      clientId: e.OIDC_CLIENT_ID ?? e.OIDC_AUDIENCE,
      clientSecretArn: e.OIDC_CLIENT_SECRET_ARN,
      scopes: e.OIDC_SCOPES.split(' ').filter((scope) => scope !== 'openid'),
    },
    sessionCookie: e.SESSION_COOKIE ?? (e.COOKIE_SECURE ? SECURE_SESSION_COOKIE : 'carrel_session'),
    sessionTtlSeconds: e.SESSION_TTL_SECONDS,
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
    workspaces: workspacesConfig(e),
  };
}

type Env = z.output<typeof envSchema>;

/** The workspaces part of the configuration; `checkCompute` has already vouched for what a kind needs. */
function workspacesConfig(e: Env): WorkspacesConfig {
  const common = () => ({
    sizes: e.WORKSPACE_SIZES as WorkspaceSizes,
    subnetIds: e.WORKSPACE_SUBNET_IDS as string[],
    securityGroupIds: [e.WORKSPACE_SECURITY_GROUP_ID as string],
  });
  const compute: WorkspacesConfig['compute'] =
    e.COMPUTE_KIND === 'ec2'
      ? {
          kind: 'ec2',
          ...common(),
          launchTemplateId: e.LAUNCH_TEMPLATE_ID as string,
          hibernate: e.HIBERNATE,
          provisionerFunctionName: e.PROVISIONER_FUNCTION_NAME,
          ...(e.WARM_POOL && Object.values(e.WARM_POOL).some((n) => n > 0) ? { warmPool: { targets: e.WARM_POOL, forResume: e.WARM_POOL_FOR_RESUME } } : {}),
        }
      : e.COMPUTE_KIND === 'fargate'
        ? {
            kind: 'fargate',
            ...common(),
            clusterArn: e.ECS_CLUSTER_ARN as string,
            taskDefinitionArn: e.TASK_DEFINITION_ARN as string,
            fileSystemId: e.EFS_FILE_SYSTEM_ID as string,
          }
        : undefined;
  return {
    compute,
    homes: e.EFS_FILE_SYSTEM_ID ? { fileSystemId: e.EFS_FILE_SYSTEM_ID, uid: e.HOME_UID, gid: e.HOME_GID } : undefined,
    hostnames: e.HOSTED_ZONE_ID ? { hostedZoneId: e.HOSTED_ZONE_ID, ttlSeconds: e.HOSTNAME_TTL_SECONDS } : undefined,
    address: e.WORKSPACE_ADDRESS,
    gatePort: e.GATE_PORT,
    provisionerSshKeySecretArn: e.PROVISIONER_SSH_KEY_SECRET_ARN,
    gateCertificateSecretArn: e.GATE_CERTIFICATE_SECRET_ARN,
  };
}
