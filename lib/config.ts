/**
 * Deployment configuration of the CDK app: typed, validated once with zod, failing fast with a
 * message that names the bad setting.
 *
 * Read from CDK context (in this order, later wins):
 *  - `carrelConfig`: path of a JSON file (relative to the working directory), e.g. `-c carrelConfig=deploy/prod.json`;
 *  - `carrel`: an object in cdk.json / cdk.context.json, or a JSON string given with `-c carrel='{...}'`.
 * Every setting has a default so that `npx cdk synth` works offline on a fresh clone; a real deployment
 * sets at least `deskDomain` and `oidc`.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;
const CIDR = /^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\/(?:3[0-2]|[12]?\d)$|^[0-9a-f:]+\/(?:12[0-8]|1[01]\d|\d?\d)$/i;

const httpsUrl = z
  .string()
  .refine((v) => URL.canParse(v) && new URL(v).protocol === 'https:', { error: 'must be an https:// URL' });
const wholeSeconds = (fallback: number, min: number) =>
  z.number({ error: 'must be a number of seconds' }).int({ error: 'must be a whole number' }).min(min, { error: `must be at least ${min}` }).default(fallback);

/** Log retention values CloudWatch Logs accepts (days). */
const RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

const instanceSize = z.object({
  /** EC2 instance type for EC2 workspaces (e.g. `t4g.medium`). */
  instanceType: z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, { error: 'must be an EC2 instance type like t4g.medium' }),
  /** Fargate vCPU and memory for Fargate workspaces. */
  cpu: z.number().positive().optional(),
  memoryMiB: z.number().int().positive().optional(),
});

export const carrelConfigSchema = z
  .object({
    /** Marks every resource of this deployment (tag `carrel:deployment`) and names the stacks. */
    deploymentId: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,23}$/, { error: 'must be 1-24 lower-case letters, digits or hyphens, starting with a letter' })
      .default('carrel'),
    /** The front desk's domain; workspaces are `ws-<random>.<deskDomain>`, gate cookies use `Domain=<deskDomain>`. */
    deskDomain: z
      .string()
      .toLowerCase()
      .regex(DNS_NAME, { error: 'must be a DNS name like desk.example.org' })
      .default('desk.example.org'),
    /** Route 53 zone that holds `deskDomain` (optional until workspace hostnames are published). */
    hostedZone: z
      .object({
        zoneId: z.string().regex(/^Z[A-Z0-9]{4,32}$/, { error: 'must be a Route 53 hosted zone id like Z0123456789ABCDEFGHIJ' }),
        zoneName: z.string().toLowerCase().regex(DNS_NAME, { error: 'must be a DNS name' }),
      })
      .optional(),
    /** ACM certificate in us-east-1 for `deskDomain` on CloudFront. Without it the site uses the *.cloudfront.net name. */
    certificateArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate\/[0-9a-f-]{36}$/, {
        error: 'must be an ACM certificate ARN in us-east-1 (CloudFront only uses certificates from us-east-1)',
      })
      .optional(),
    /** The organisation's OpenID Connect identity provider. */
    oidc: z
      .object({
        issuer: httpsUrl.default('https://idp.example.org'),
        audience: z.string().min(1, { error: 'must not be empty' }).default('carrel'),
        jwksUrl: httpsUrl.default('https://idp.example.org/.well-known/jwks.json'),
        /** Claim of the session token that lists the user's roles/groups. */
        rolesClaim: z.string().min(1, { error: 'must not be empty' }).default('groups'),
        /** Name of the desk session cookie that carries the token. */
        sessionCookie: z.string().regex(/^[A-Za-z0-9_-]+$/, { error: 'must be a cookie name' }).default('carrel_session'),
      })
      .prefault({}),
    /** One idle policy for every tool. */
    idle: z
      .object({
        timeoutSeconds: wholeSeconds(1800, 60),
        warningSeconds: wholeSeconds(60, 1),
        /** Stopped workspaces are terminated after this long (the home stays). */
        stoppedRetentionHours: z.number().int().min(1, { error: 'must be at least 1' }).default(168),
      })
      .prefault({}),
    /** Lifetimes of what the desk signs and how often the page reports. */
    tokens: z
      .object({
        gateCookieTtlSeconds: wholeSeconds(900, 30),
        agentTokenTtlSeconds: wholeSeconds(2_592_000, 60),
        heartbeatSeconds: wholeSeconds(60, 5),
      })
      .prefault({}),
    /** Workspace sizes by name (placeholder: the compute adapters of the next issue use it). */
    instanceSizes: z
      .record(z.string().regex(/^[a-z][a-z0-9-]*$/, { error: 'size names must be lower-case words' }), instanceSize)
      .default({ small: { instanceType: 't4g.medium', cpu: 1, memoryMiB: 4096 } }),
    /** Networks allowed to reach workspaces directly (placeholder for the next issue; empty = none). */
    allowedCidrs: z.array(z.string().regex(CIDR, { error: 'must be a CIDR block like 10.0.0.0/16' })).default([]),
    /** Default-stage throttling of the HTTP API. */
    api: z
      .object({
        rateLimit: z.number().positive().default(50),
        burstLimit: z.number().int().positive().default(100),
      })
      .prefault({}),
    /** Retention of Lambda, API and CloudFront logs, in days. */
    logRetentionDays: z
      .number()
      .refine((v) => (RETENTION_DAYS as readonly number[]).includes(v), { error: `must be one of ${RETENTION_DAYS.join(', ')}` })
      .default(90),
    logLevel: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),
    /** Account and region to pin the stacks to; leave unset for environment-agnostic stacks. */
    env: z
      .object({
        account: z.string().regex(/^\d{12}$/, { error: 'must be a 12-digit AWS account id' }).optional(),
        region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, { error: 'must be an AWS region like eu-west-2' }).optional(),
      })
      .optional(),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.idle.warningSeconds >= config.idle.timeoutSeconds) {
      ctx.addIssue({ code: 'custom', path: ['idle', 'warningSeconds'], message: 'must be shorter than idle.timeoutSeconds' });
    }
    if (config.tokens.heartbeatSeconds >= config.idle.timeoutSeconds) {
      ctx.addIssue({ code: 'custom', path: ['tokens', 'heartbeatSeconds'], message: 'must be shorter than idle.timeoutSeconds' });
    }
    if (config.tokens.gateCookieTtlSeconds <= config.tokens.heartbeatSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['tokens', 'gateCookieTtlSeconds'],
        message: 'must be longer than tokens.heartbeatSeconds (the heartbeat refreshes the cookie)',
      });
    }
    const zone = config.hostedZone?.zoneName;
    if (zone && config.deskDomain !== zone && !config.deskDomain.endsWith(`.${zone}`)) {
      ctx.addIssue({ code: 'custom', path: ['hostedZone', 'zoneName'], message: `must be deskDomain (${config.deskDomain}) or a parent of it` });
    }
  });

export type CarrelConfig = z.output<typeof carrelConfigSchema>;
export type CarrelConfigInput = z.input<typeof carrelConfigSchema>;

/** The configuration is invalid; the message names every bad setting and where it came from. */
export class CarrelConfigError extends Error {
  constructor(
    message: string,
    readonly issues: readonly string[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CarrelConfigError';
  }
}

/** Validate raw configuration; `source` says where it came from for the error message. */
export function parseConfig(raw: unknown, source = 'configuration'): CarrelConfig {
  const parsed = carrelConfigSchema.safeParse(raw ?? {});
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      const where = path ? `${path}.` : '';
      return issue.keys.map((key) => `${where}${key}: is not a known setting`).join('; ');
    }
    return `${path || '(root)'}: ${issue.message}`;
  });
  return fail(`Invalid carrel ${source}: ${issues.join('; ')}`, issues);
}

/** Anything that can answer `tryGetContext` (an App, a Node). */
export interface ContextSource {
  tryGetContext(key: string): unknown;
}

/**
 * Load the configuration from CDK context: the JSON file named by `carrelConfig`, overlaid with the
 * `carrel` context object. Throws a CarrelConfigError naming the bad setting.
 */
export function loadConfig(context: ContextSource, cwd = process.cwd()): CarrelConfig {
  const sources: string[] = [];
  let merged: Record<string, unknown> = {};

  const file = context.tryGetContext('carrelConfig');
  if (file !== undefined) {
    if (typeof file !== 'string' || file.trim() === '') fail('Invalid carrel configuration: context carrelConfig must be a path to a JSON file');
    const path = resolve(cwd, file);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      return fail(`Cannot read the carrel configuration file ${path} (context carrelConfig): ${(error as Error).message}`, [], error);
    }
    merged = asObject(parseJson(text, `file ${path}`), `file ${path}`);
    sources.push(`file ${path}`);
  }

  const inline = context.tryGetContext('carrel');
  if (inline !== undefined) {
    const value = typeof inline === 'string' ? parseJson(inline, 'context "carrel"') : inline;
    merged = deepMerge(merged, asObject(value, 'context "carrel"'));
    sources.push('context "carrel"');
  }

  return parseConfig(merged, sources.length ? `configuration (from ${sources.join(' and ')})` : 'configuration (defaults)');
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    return fail(`The carrel configuration in ${where} is not valid JSON: ${(error as Error).message}`, [], error);
  }
}

function asObject(value: unknown, where: string): Record<string, unknown> {
  if (!isPlainObject(value)) fail(`The carrel configuration in ${where} must be a JSON object`);
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value;
  }
  return out;
}

function fail(message: string, issues: readonly string[] = [], cause?: unknown): never {
  throw new CarrelConfigError(message, issues, cause === undefined ? undefined : { cause });
}
