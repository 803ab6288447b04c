/**
 * The Fargate bootstrap step: the gate image run with `CARREL_GATE_MODE=bootstrap`, as a short init
 * container that the gate and the tool wait for (dependsOn SUCCESS). It
 *  1. signs (SigV4) an sts:GetCallerIdentity request with the task role's credentials (ECS credentials
 *     endpoint) and a signed `x-carrel-server-id: <desk domain>` header, without sending it to STS;
 *  2. POSTs that signed request to the desk (`POST /api/agent/bootstrap`), which has STS vouch for the
 *     task and answers with that workspace's hostname, the desk's public key and its agent token;
 *  3. makes the tool's token here (random; it never leaves the task) and writes the gate's settings file and
 *     the tool's token file, each on a volume only its reader mounts.
 * Retries what may pass (the desk's record of the task can lag its start by a moment, STS or the network may
 * hiccup) a bounded number of times; a refusal (401, 403, 409) ends at once. Exit 1 with one clear log line
 * either way. Nothing secret is ever logged.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Sha256 } from '@smithy/core/checksum';
import { fromContainerMetadata } from '@smithy/credential-provider-imds';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { z } from 'zod';
import {
  BOOTSTRAP_ENV,
  GET_CALLER_IDENTITY_BODY,
  GET_CALLER_IDENTITY_CONTENT_TYPE,
  SERVER_ID_HEADER,
  SETTINGS_FILE_NAMES,
  type BootstrapAnswer,
} from './bootstrap-contract.js';
import { GateConfigError } from './config.js';
import type { Logger } from './log.js';

export interface BootstrapSettings {
  readonly url: URL;
  readonly serverId: string;
  readonly stsUrl: URL;
  readonly stsRegion: string;
  readonly settingsFile: string;
  readonly toolTokenFile: string;
  readonly attempts: number;
}

/** The request the desk forwards to STS, as signed here. */
export interface SignedIdentityRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export class BootstrapError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BootstrapError';
  }
}

const required = (what: string) => z.string({ error: `is required (${what})` }).trim().min(1, `is required (${what})`);
const url = (what: string, https: boolean) =>
  required(what).transform((value, ctx) => {
    try {
      const parsed = new URL(value);
      if (parsed.protocol === 'https:' || (!https && parsed.protocol === 'http:')) return parsed;
    } catch {
      /* reported below */
    }
    ctx.addIssue({ code: 'custom', message: `must be an ${https ? 'https' : 'http(s)'} URL (${what}), got "${value}"` });
    return z.NEVER;
  });

const schema = z.object({
  [BOOTSTRAP_ENV.url]: url('the desk bootstrap endpoint', false),
  [BOOTSTRAP_ENV.serverId]: required('the desk domain, signed into the request'),
  [BOOTSTRAP_ENV.stsUrl]: url('the STS endpoint the desk forwards to', true),
  [BOOTSTRAP_ENV.stsRegion]: required('the region of that STS endpoint').regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region such as eu-west-2'),
  [BOOTSTRAP_ENV.settingsFile]: required("where to write the gate's settings").regex(/^\//, 'must be an absolute path'),
  [BOOTSTRAP_ENV.toolTokenFile]: required("where to write the tool's token").regex(/^\//, 'must be an absolute path'),
  [BOOTSTRAP_ENV.attempts]: z.coerce.number<string>().int().min(1).max(20).optional(),
});

/** Reads the bootstrap step's environment; a GateConfigError names each bad setting. */
export function loadBootstrapSettings(env: NodeJS.ProcessEnv = process.env): BootstrapSettings {
  const picked = Object.fromEntries(Object.values(BOOTSTRAP_ENV).map((name) => [name, env[name] === '' ? undefined : env[name]]));
  const parsed = schema.safeParse(picked);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'environment'}: ${issue.message}`);
    throw new GateConfigError(`Invalid bootstrap configuration:\n  ${lines.join('\n  ')}`, { cause: parsed.error });
  }
  const e = parsed.data;
  return {
    url: e[BOOTSTRAP_ENV.url],
    serverId: e[BOOTSTRAP_ENV.serverId],
    stsUrl: e[BOOTSTRAP_ENV.stsUrl],
    stsRegion: e[BOOTSTRAP_ENV.stsRegion],
    settingsFile: e[BOOTSTRAP_ENV.settingsFile],
    toolTokenFile: e[BOOTSTRAP_ENV.toolTokenFile],
    attempts: e[BOOTSTRAP_ENV.attempts] ?? 6,
  };
}

/** A GetCallerIdentity request to `stsUrl`, signed for `region` with `credentials`, bound to `serverId`. */
export async function signIdentityRequest(
  settings: Pick<BootstrapSettings, 'stsUrl' | 'stsRegion' | 'serverId'>,
  credentials: AwsCredentialIdentityProvider,
  signingDate?: Date,
): Promise<SignedIdentityRequest> {
  const signer = new SignatureV4({ credentials, region: settings.stsRegion, service: 'sts', sha256: Sha256 });
  const { stsUrl } = settings;
  const signed = await signer.sign(
    {
      method: 'POST',
      protocol: stsUrl.protocol,
      hostname: stsUrl.hostname,
      ...(stsUrl.port ? { port: Number(stsUrl.port) } : {}),
      path: stsUrl.pathname,
      query: {},
      headers: { host: stsUrl.host, 'content-type': GET_CALLER_IDENTITY_CONTENT_TYPE, [SERVER_ID_HEADER]: settings.serverId },
      body: GET_CALLER_IDENTITY_BODY,
    },
    signingDate ? { signingDate } : undefined,
  );
  return { url: stsUrl.href, headers: { ...(signed.headers as Record<string, string>) }, body: GET_CALLER_IDENTITY_BODY };
}

const answerSchema = z.object({
  CARREL_GATE_HOSTNAME: z.string().min(1),
  CARREL_GATE_HOST_LABEL: z.string().min(1),
  CARREL_GATE_PUBLIC_KEY: z.string().min(1),
  CARREL_GATE_AGENT_TOKEN: z.string().min(1),
});

export interface BootstrapDeps {
  readonly log: Logger;
  /** The task role's credentials; default the ECS container credentials endpoint. */
  readonly credentials?: AwsCredentialIdentityProvider;
  readonly fetch?: typeof fetch;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Per-request time limit (default 10 s). */
  readonly timeoutMs?: number;
}

/** Statuses worth another attempt: the record may lag the task (404), throttling, the desk or STS briefly down. */
const RETRYABLE = new Set([404, 408, 429, 500, 502, 503, 504]);

/** Steps 1 and 2: the workspace's settings from the desk, with bounded retries (1, 2, 4, 8, 8, ... s apart). */
export async function fetchSettings(settings: BootstrapSettings, deps: BootstrapDeps): Promise<BootstrapAnswer> {
  const credentials = deps.credentials ?? fromContainerMetadata({ timeout: 2000, maxRetries: 3 });
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let last = 'no attempt made';
  for (let attempt = 1; attempt <= settings.attempts; attempt++) {
    if (attempt > 1) await sleep(Math.min(1000 * 2 ** (attempt - 2), 8000));
    let response: Response;
    let text: string;
    try {
      // Signed afresh each time: the desk accepts only recent signatures.
      const request = await signIdentityRequest(settings, credentials);
      response = await (deps.fetch ?? fetch)(settings.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ request }),
        redirect: 'error',
        signal: AbortSignal.timeout(deps.timeoutMs ?? 10_000),
      });
      text = await response.text();
    } catch (error) {
      last = `the desk could not be reached (${error instanceof Error ? `${error.name}: ${error.message}` : String(error)})`;
      deps.log.warn('bootstrap attempt failed; retrying', { attempt, of: settings.attempts, reason: last });
      continue;
    }
    if (response.ok) {
      let parsed;
      try {
        parsed = answerSchema.safeParse(JSON.parse(text));
      } catch {
        parsed = undefined;
      }
      if (parsed?.success) return parsed.data;
      throw new BootstrapError(`the desk answered ${response.status} without the workspace's settings`);
    }
    const message = deskMessage(text);
    last = `the desk answered ${response.status}${message ? `: ${message}` : ''}`;
    if (!RETRYABLE.has(response.status)) throw new BootstrapError(last);
    deps.log.warn('bootstrap attempt failed; retrying', { attempt, of: settings.attempts, status: response.status, reason: message });
  }
  throw new BootstrapError(`gave up after ${settings.attempts} attempts: ${last}`);
}

/** The desk's error message (`{error: {message}}`), clipped; never anything else of the body. */
function deskMessage(text: string): string | undefined {
  try {
    const message = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
    return typeof message === 'string' ? message.slice(0, 300) : undefined;
  } catch {
    return undefined;
  }
}

/** Step 3: the files the gate and the tool read; each written whole (temporary name, then rename). */
export async function writeSettings(settings: BootstrapSettings, answer: BootstrapAnswer): Promise<void> {
  const toolToken = randomBytes(32).toString('base64url');
  const gateSettings: Record<(typeof SETTINGS_FILE_NAMES)[number], string> = { ...answer, CARREL_GATE_UPSTREAM_AUTH: `token ${toolToken}` };
  // Readable by any user of the containers that mount each volume (their users differ from this step's):
  // the volumes themselves are what keeps the agent token from the tool and the tool token from the rest.
  await writeWhole(settings.toolTokenFile, toolToken);
  await writeWhole(settings.settingsFile, `${JSON.stringify(gateSettings)}\n`);
}

async function writeWhole(path: string, content: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, content, { mode: 0o444 });
  await rename(temporary, path);
}

/** The whole step: exit code 0 when the files are written, 1 otherwise (with one clear log line). */
export async function runBootstrap(env: NodeJS.ProcessEnv, deps: BootstrapDeps): Promise<number> {
  try {
    const settings = loadBootstrapSettings(env);
    const answer = await fetchSettings(settings, deps);
    await writeSettings(settings, answer);
    deps.log.info('bootstrap done: workspace settings written', { hostname: answer.CARREL_GATE_HOSTNAME, desk: settings.url.origin });
    return 0;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    deps.log.error('bootstrap failed: the gate cannot start without its settings', { reason });
    return 1;
  }
}
