/**
 * The gate's configuration: read once from the environment at start, validated with zod, failing fast
 * with a message that names the offending setting. Names are the contract in docs/contracts.md.
 *
 * TLS comes one of two ways, never both: file paths (`CARREL_GATE_TLS_CERT` / `CARREL_GATE_TLS_KEY`, EC2:
 * systemd credentials) or the PEM itself (`CARREL_GATE_TLS_CERT_PEM` / `CARREL_GATE_TLS_KEY_PEM`, Fargate:
 * ECS injects them from Secrets Manager). Either way the certificate and key are parsed and checked to be a
 * pair before the gate listens; no message ever contains their contents.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { BOOTSTRAP_ENV, SETTINGS_FILE_NAMES } from './bootstrap-contract.js';

export type BusyProbeKind = 'jupyter' | 'none';

export interface GateConfig {
  /** Port to listen on (0 = an ephemeral port, see `Gate.port`). */
  readonly port: number;
  readonly listenHost: string;
  /** This workspace's hostname: the audience its cookie must carry. */
  readonly hostname: string;
  /** Label in the cookie name `carrel_gate_<hostLabel>`; defaults to the first label of the hostname. */
  readonly hostLabel: string;
  /** SPKI PEM of the desk's signing key (verifies cookies and the agent token; cannot forge them). */
  readonly publicKeyPem: string;
  /** Where the tool listens, e.g. `http://127.0.0.1:8888`. A path, if any, prefixes every proxied path. */
  readonly upstream: URL;
  /** Authorization header value injected on every upstream request, e.g. `token <jupyter token>`. */
  readonly upstreamAuth?: string;
  /** The front desk origin: allowed to frame the tool; linked from the gate's pages. */
  readonly deskOrigin: string;
  /** Activity endpoint of the desk (`POST /api/agent/activity`); no reporting when absent. */
  readonly activityUrl?: URL;
  readonly agentToken?: string;
  readonly reportSeconds: number;
  readonly busyProbe: BusyProbeKind;
  /**
   * PEM certificate (chain) and private key, both or neither: read from the configured paths (`files`) or
   * taken from the PEM variables (`environment`).
   */
  readonly tls?: { readonly cert: string; readonly key: string; readonly source: 'files' | 'environment' };
}

export class GateConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GateConfigError';
  }
}

const ENV = {
  port: 'CARREL_GATE_PORT',
  listenHost: 'CARREL_GATE_LISTEN_HOST',
  hostname: 'CARREL_GATE_HOSTNAME',
  hostLabel: 'CARREL_GATE_HOST_LABEL',
  publicKey: 'CARREL_GATE_PUBLIC_KEY',
  upstream: 'CARREL_GATE_UPSTREAM',
  upstreamAuth: 'CARREL_GATE_UPSTREAM_AUTH',
  deskOrigin: 'CARREL_GATE_DESK_ORIGIN',
  activityUrl: 'CARREL_GATE_ACTIVITY_URL',
  agentToken: 'CARREL_GATE_AGENT_TOKEN',
  reportSeconds: 'CARREL_GATE_REPORT_SECONDS',
  busyProbe: 'CARREL_GATE_BUSY_PROBE',
  tlsCert: 'CARREL_GATE_TLS_CERT',
  tlsKey: 'CARREL_GATE_TLS_KEY',
  tlsCertPem: 'CARREL_GATE_TLS_CERT_PEM',
  tlsKeyPem: 'CARREL_GATE_TLS_KEY_PEM',
} as const;

/** The variables that carry the certificate and key as PEM text (the Fargate task injects them from Secrets Manager). */
export const GATE_TLS_PEM_VARIABLES = { certificate: ENV.tlsCertPem, privateKey: ENV.tlsKeyPem } as const;

/** Every environment variable the gate reads. */
export const GATE_ENV_NAMES: readonly string[] = Object.values(ENV);

/** Empty strings count as unset (a blank `X=` line in an env file). */
const optionalText = z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), z.string().optional());
const requiredText = (what: string) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), z.string({ error: `is required (${what})` }));

/** PEM text in a variable: blank counts as unset, and `\n` escapes (one-line env files) become newlines. */
const pemText = z.preprocess(
  (v) => (typeof v === 'string' ? (v.trim() === '' ? undefined : v.replace(/\\n/g, '\n').trim() + '\n') : v),
  z.string().optional(),
);

const httpUrl = (what: string) =>
  z.string().transform((value, ctx) => {
    try {
      const url = new URL(value);
      if (url.protocol === 'http:' || url.protocol === 'https:') return url;
    } catch {
      /* reported below */
    }
    ctx.addIssue({ code: 'custom', message: `must be an http(s) URL (${what}), got "${value}"` });
    return z.NEVER;
  });

const hostnamePattern = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

const schema = z
  .object({
    [ENV.port]: requiredText('the port to listen on').pipe(z.coerce.number<string>().int().min(0).max(65535)),
    [ENV.listenHost]: optionalText,
    [ENV.hostname]: requiredText("this workspace's hostname, the cookie audience")
      .transform((v) => v.trim().toLowerCase())
      .pipe(z.string().regex(hostnamePattern, 'must be a bare hostname such as ws-abc.example.org (no scheme, port or path)')),
    [ENV.hostLabel]: optionalText.pipe(z.string().regex(/^[a-z0-9-]+$/, 'must be lowercase letters, digits and dashes').optional()),
    [ENV.publicKey]: requiredText('SPKI PEM of the desk signing key')
      // env files often carry PEMs with literal "\n"
      .transform((v) => v.replace(/\\n/g, '\n').trim() + '\n')
      .pipe(z.string().regex(/^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n$/, 'must be an SPKI PEM ("-----BEGIN PUBLIC KEY-----")')),
    [ENV.upstream]: requiredText('where the tool listens').pipe(httpUrl('where the tool listens')),
    [ENV.upstreamAuth]: optionalText.pipe(z.string().regex(/^[^\r\n]+$/, 'must be a single-line header value').optional()),
    [ENV.deskOrigin]: requiredText('the front desk origin').pipe(
      httpUrl('the front desk origin').refine((u) => u.pathname === '/' && !u.search && !u.hash && !u.username, {
        message: 'must be an origin such as https://desk.example.org (no path)',
      }),
    ),
    [ENV.activityUrl]: optionalText.pipe(httpUrl('the desk activity endpoint').optional()),
    [ENV.agentToken]: optionalText.pipe(z.string().regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'must be a JWT').optional()),
    [ENV.reportSeconds]: optionalText.pipe(z.coerce.number<string>().positive().max(86_400).optional()),
    [ENV.busyProbe]: optionalText.pipe(z.enum(['jupyter', 'none']).optional()),
    [ENV.tlsCert]: optionalText,
    [ENV.tlsKey]: optionalText,
    [ENV.tlsCertPem]: pemText,
    [ENV.tlsKeyPem]: pemText,
  })
  .superRefine((env, ctx) => {
    if (env[ENV.activityUrl] && !env[ENV.agentToken]) {
      ctx.addIssue({ code: 'custom', path: [ENV.agentToken], message: `is required when ${ENV.activityUrl} is set` });
    }
    if (env[ENV.agentToken] && !env[ENV.activityUrl]) {
      ctx.addIssue({ code: 'custom', path: [ENV.activityUrl], message: `is required when ${ENV.agentToken} is set` });
    }
    const paths = [ENV.tlsCert, ENV.tlsKey].filter((name) => env[name]);
    const pems = [ENV.tlsCertPem, ENV.tlsKeyPem].filter((name) => env[name]);
    if (paths.length > 0 && pems.length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: [pems[0]!],
        message: `cannot be combined with ${paths.join(' / ')}: give the certificate and key either as PEM (${ENV.tlsCertPem} and ${ENV.tlsKeyPem}) or as file paths (${ENV.tlsCert} and ${ENV.tlsKey}), not both`,
      });
      return;
    }
    for (const [cert, key] of [
      [ENV.tlsCert, ENV.tlsKey],
      [ENV.tlsCertPem, ENV.tlsKeyPem],
    ] as const) {
      if (Boolean(env[cert]) !== Boolean(env[key])) {
        const [missing, present] = env[cert] ? [key, cert] : [cert, key];
        ctx.addIssue({ code: 'custom', path: [missing], message: `is required when ${present} is set` });
      }
    }
  });

function readPem(name: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new GateConfigError(`Invalid gate configuration: ${name}: cannot read "${path}" (${(error as NodeJS.ErrnoException).code ?? 'error'})`, {
      cause: error,
    });
  }
}

/**
 * The certificate and key must parse and belong together (https would otherwise fail later, less clearly).
 * Messages name the settings and never quote their contents.
 */
function checkTlsPair(cert: string, key: string, certName: string, keyName: string): void {
  const problems: string[] = [];
  let certificate: X509Certificate | undefined;
  let privateKey: ReturnType<typeof createPrivateKey> | undefined;
  try {
    if (!/-----BEGIN CERTIFICATE-----/.test(cert)) throw new Error('not PEM');
    certificate = new X509Certificate(cert);
  } catch {
    problems.push(`${certName}: is not a PEM certificate ("-----BEGIN CERTIFICATE-----")`);
  }
  try {
    if (!/-----BEGIN ([A-Z]+ )?PRIVATE KEY-----/.test(key)) throw new Error('not PEM');
    privateKey = createPrivateKey(key);
  } catch {
    problems.push(`${keyName}: is not an unencrypted PEM private key ("-----BEGIN PRIVATE KEY-----")`);
  }
  if (certificate && privateKey && !certificate.checkPrivateKey(privateKey)) {
    problems.push(`${keyName}: does not match the certificate in ${certName}`);
  }
  if (problems.length > 0) throw new GateConfigError(`Invalid gate configuration:\n  ${problems.join('\n  ')}`);
}

type TlsSettings = Partial<Record<(typeof ENV)['tlsCert' | 'tlsKey' | 'tlsCertPem' | 'tlsKeyPem'], string>>;

function tlsFrom(e: TlsSettings): GateConfig['tls'] {
  const certPem = e[ENV.tlsCertPem];
  const keyPem = e[ENV.tlsKeyPem];
  if (certPem && keyPem) {
    checkTlsPair(certPem, keyPem, ENV.tlsCertPem, ENV.tlsKeyPem);
    return { cert: certPem, key: keyPem, source: 'environment' };
  }
  const certPath = e[ENV.tlsCert];
  const keyPath = e[ENV.tlsKey];
  if (certPath && keyPath) {
    const cert = readPem(ENV.tlsCert, certPath);
    const key = readPem(ENV.tlsKey, keyPath);
    checkTlsPair(cert, key, `${ENV.tlsCert} ("${certPath}")`, `${ENV.tlsKey} ("${keyPath}")`);
    return { cert, key, source: 'files' };
  }
  return undefined;
}

/**
 * The per-workspace settings the Fargate bootstrap step wrote (`CARREL_GATE_SETTINGS_FILE`, JSON of gate
 * variables): they fill in, and win over, the environment. Only the per-workspace names are accepted.
 */
function settingsFile(env: NodeJS.ProcessEnv): Record<string, string> {
  const path = env[BOOTSTRAP_ENV.settingsFile];
  if (!path) return {};
  const name = BOOTSTRAP_ENV.settingsFile;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new GateConfigError(`Invalid gate configuration: ${name}: cannot read "${path}" as JSON (${code ?? 'not JSON'}); the bootstrap step writes it`, { cause: error });
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new GateConfigError(`Invalid gate configuration: ${name}: "${path}" must hold a JSON object`);
  const allowed: readonly string[] = SETTINGS_FILE_NAMES;
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (!allowed.includes(key)) throw new GateConfigError(`Invalid gate configuration: ${name}: "${path}" may not set ${key}`);
    if (typeof value !== 'string') throw new GateConfigError(`Invalid gate configuration: ${name}: ${key} in "${path}" must be text`);
    values[key] = value;
  }
  return values;
}

/** Reads and validates the gate's environment; throws `GateConfigError` naming each bad setting. */
export function loadGateConfig(environment: NodeJS.ProcessEnv = process.env): GateConfig {
  const env = { ...environment, ...settingsFile(environment) };
  const picked = Object.fromEntries(GATE_ENV_NAMES.map((name) => [name, env[name]]));
  const parsed = schema.safeParse(picked);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'environment'}: ${issue.message}`);
    throw new GateConfigError(`Invalid gate configuration:\n  ${lines.join('\n  ')}`, { cause: parsed.error });
  }
  const e = parsed.data;
  const hostname = e[ENV.hostname];
  const tls = tlsFrom(e);
  return {
    port: e[ENV.port],
    listenHost: e[ENV.listenHost] ?? '0.0.0.0',
    hostname,
    hostLabel: e[ENV.hostLabel] ?? hostname.split('.')[0]!,
    publicKeyPem: e[ENV.publicKey],
    upstream: e[ENV.upstream],
    upstreamAuth: e[ENV.upstreamAuth],
    deskOrigin: e[ENV.deskOrigin].origin,
    activityUrl: e[ENV.activityUrl],
    agentToken: e[ENV.agentToken],
    reportSeconds: e[ENV.reportSeconds] ?? 60,
    busyProbe: e[ENV.busyProbe] ?? 'none',
    tls,
  };
}
