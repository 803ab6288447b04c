/**
 * The gate's configuration: read once from the environment at start, validated with zod, failing fast
 * with a message that names the offending setting. Names are the contract in docs/contracts.md.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

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
  /** PEM contents (read from the configured paths), both or neither. */
  readonly tls?: { readonly cert: string; readonly key: string };
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
} as const;

/** Every environment variable the gate reads. */
export const GATE_ENV_NAMES: readonly string[] = Object.values(ENV);

/** Empty strings count as unset (a blank `X=` line in an env file). */
const optionalText = z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), z.string().optional());
const requiredText = (what: string) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), z.string({ error: `is required (${what})` }));

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
  })
  .superRefine((env, ctx) => {
    if (env[ENV.activityUrl] && !env[ENV.agentToken]) {
      ctx.addIssue({ code: 'custom', path: [ENV.agentToken], message: `is required when ${ENV.activityUrl} is set` });
    }
    if (env[ENV.agentToken] && !env[ENV.activityUrl]) {
      ctx.addIssue({ code: 'custom', path: [ENV.activityUrl], message: `is required when ${ENV.agentToken} is set` });
    }
    if (Boolean(env[ENV.tlsCert]) !== Boolean(env[ENV.tlsKey])) {
      const missing = env[ENV.tlsCert] ? ENV.tlsKey : ENV.tlsCert;
      ctx.addIssue({ code: 'custom', path: [missing], message: `is required when ${missing === ENV.tlsKey ? ENV.tlsCert : ENV.tlsKey} is set` });
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

/** Reads and validates the gate's environment; throws `GateConfigError` naming each bad setting. */
export function loadGateConfig(env: NodeJS.ProcessEnv = process.env): GateConfig {
  const picked = Object.fromEntries(GATE_ENV_NAMES.map((name) => [name, env[name]]));
  const parsed = schema.safeParse(picked);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'environment'}: ${issue.message}`);
    throw new GateConfigError(`Invalid gate configuration:\n  ${lines.join('\n  ')}`, { cause: parsed.error });
  }
  const e = parsed.data;
  const hostname = e[ENV.hostname];
  const certPath = e[ENV.tlsCert];
  const keyPath = e[ENV.tlsKey];
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
    tls: certPath && keyPath ? { cert: readPem(ENV.tlsCert, certPath), key: readPem(ENV.tlsKey, keyPath) } : undefined,
  };
}
