/**
 * The provisioner (EC2 workspaces): an asynchronously invoked Lambda, so its long work never runs inside a
 * request the browser waits on. Given `{ analysisId, userId, generation }` it
 *  1. reads the record and does nothing unless it is still `provisioning` in that generation;
 *  2. waits (bounded) for the instance to print its SSH host key fingerprints on its console;
 *  3. connects as `carrel-provisioner` (key from Secrets Manager), refusing any other host key, uploads
 *     assets/provision/provision.sh, the gate bundle, the gate's environment (agent token, desk public
 *     key), the TLS certificate and the synthetic-data key, and runs the script under a time limit;
 *  4. reports `tool-ready`, or `failed` with the script's reason, through core's handleComputeEvent.
 * See docs/contracts.md ("The provisioner") and assets/provision/README.md.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { describeError, handleComputeEvent, TransientError, type Workspace, type WorkspaceDeps } from '../core/index.js';
import type { HostKeySource } from '../adapters/aws/console-host-keys.js';
import type { ProvisionSecrets } from '../adapters/aws/provisioner-secrets.js';
import { SshProvisioning, type ProvisionJob, type ProvisionResult, type RemoteProvisioning, type UploadFile } from '../adapters/ssh-provisioning.js';
import { signJwt } from '../adapters/tokens.js';
import { agentTokenFor } from './agent.js';
import type { AppDeps } from './app.js';
import { ConfigError } from './config.js';
import { ANALYSIS_ID, USER_ID } from './schemas.js';

/** Audience of the synthetic-data API keys the desk signs (the data API verifies them with the desk's public key). */
export const DATA_API_AUDIENCE = 'carrel-synthetic-data';

/** The asynchronous invocation's payload (see lambdas/adapters/aws/lambda-provisioner.ts). */
export const provisionRequest = z.object({
  analysisId: z.string().regex(ANALYSIS_ID),
  userId: z.string().regex(USER_ID),
  generation: z.number().int().min(1),
});
export type ProvisionRequest = z.infer<typeof provisionRequest>;

/** What gets uploaded besides the per-workspace files: the script, the gate bundle, the blank project. */
export interface ProvisionAssets {
  readonly script: Uint8Array | string;
  readonly gateBundle: Uint8Array | string;
  /** Blank-project template files (`dot-x` names become `.x` on the host). */
  readonly template: readonly { readonly path: string; readonly content: Uint8Array | string }[];
}

export interface ProvisionSettings {
  /** EFS file system of the homes. */
  readonly fileSystemId: string;
  /** POSIX owner of every home (the access point's user). */
  readonly homeUid: number;
  readonly homeGid: number;
  /** The gate's HTTPS port on the workspace. */
  readonly gatePort: number;
  /** How often the gate reports activity (seconds); the gate's default when absent. */
  readonly gateReportSeconds?: number;
  readonly sshUser: string;
  readonly sshPort: number;
  /** Run the script with `sudo -n` (false only when connecting as root, e.g. tests on a host without sudo). */
  readonly sudo: boolean;
  /** Absolute folder on the host the files are uploaded to (sudoers allows `<remoteDir>/provision.sh`). */
  readonly remoteDir: string;
  /** Time limit of the script run (capped by the invocation's remaining time). */
  readonly runTimeoutMs: number;
  /** How long to wait for the host key fingerprints on the console, and how often to look. */
  readonly hostKeyWaitMs: number;
  readonly hostKeyPollMs: number;
  /** `https://git.example.org/{analysisId}.git` style; `{analysisId}` and `{userId}` are filled in. No remote when absent. */
  readonly gitRemoteTemplate?: string;
  readonly dataApiKeyTtlSeconds: number;
  /** Extra options for provision.sh (tests: `--home-dir`, `--no-systemd`, `--sysroot`, `--gate-user`). */
  readonly scriptOptions?: readonly string[];
}

export type ProvisionDeps = WorkspaceDeps &
  Pick<AppDeps, 'signer' | 'config'> & {
    readonly hostKeys: HostKeySource;
    readonly remote: RemoteProvisioning;
    readonly secrets: ProvisionSecrets;
    /** Loaded once per container (see loadProvisionAssets). */
    readonly assets: () => Promise<ProvisionAssets>;
    readonly settings: ProvisionSettings;
    /** The address to reach the instance's SSH server at; default: the host part of the record's address. */
    readonly sshHostOf?: (ws: Workspace) => Promise<string>;
    /** The home's EFS access point id; default: `homes.ensure` (idempotent: the existing access point). */
    readonly homeOf?: (ws: Workspace) => Promise<string>;
    /** The researcher's synthetic-data API key; default: a desk-signed token for the analysis. */
    readonly dataApiKeyFor?: (ws: Workspace) => Promise<string>;
    readonly sleep?: (ms: number) => Promise<void>;
  };

export type ProvisionOutcome =
  | { readonly outcome: 'skipped'; readonly note: string }
  | { readonly outcome: 'ready'; readonly changes: readonly string[] }
  | { readonly outcome: 'failed'; readonly reason: string };

/** The part of the Lambda context the handler uses. */
export interface InvocationContext {
  getRemainingTimeInMillis(): number;
}

/** Time kept back to report the outcome after the script. */
const REPORT_MARGIN_MS = 15_000;
const MIN_RUN_MS = 20_000;

export const PROVISIONER_USER = 'carrel-provisioner';
export const DEFAULT_REMOTE_DIR = '/home/carrel-provisioner/incoming';

export function makeProvisionHandler(deps: ProvisionDeps): (event: unknown, context?: InvocationContext) => Promise<ProvisionOutcome> {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  return async (event, context) => {
    const parsed = provisionRequest.safeParse(event);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'event'}: ${issue.message}`);
      deps.log.error('provision request dropped: malformed', { issues });
      return { outcome: 'skipped', note: `invalid request: ${issues.join('; ')}` };
    }
    const request = parsed.data;
    const ws = await deps.store.get(request);
    const current = stillProvisioning(ws, request);
    if (!current) {
      const note = ws ? `workspace is ${ws.state} in generation ${ws.generation}, not provisioning in generation ${request.generation}` : 'no such workspace';
      deps.log.info('provisioning skipped', { ...request, note });
      return { outcome: 'skipped', note };
    }
    const instanceId = current.instanceId!;
    const log = (message: string, data: Record<string, unknown> = {}) => deps.log.info(message, { ...request, instanceId, ...data });

    let result: Awaited<ReturnType<typeof provisionOver>>;
    try {
      result = await provisionOver(deps, current, request, sleep, context);
    } catch (error) {
      deps.log.error('provisioning could not run', { ...request, instanceId, error: describeError(error) });
      result = { ok: false, reason: `provisioning could not run: ${describeError(error)}` };
    }
    if (result === 'moved-on') {
      deps.log.info('provisioning abandoned: the workspace moved on', { ...request });
      return { outcome: 'skipped', note: 'the workspace moved on before provisioning ran' };
    }
    if (result.ok) {
      log('provisioned', { changes: result.changes, summary: result.summary, durationMs: result.durationMs });
      return report(deps, current, { ok: true, changes: result.changes });
    }
    deps.log.warn('provisioning failed', { ...request, instanceId, stage: result.stage, reason: result.reason, changes: 'changes' in result ? result.changes : [] });
    return report(deps, current, { ok: false, reason: result.reason });
  };
}

/** Steps 2 and 3: the host keys, the files, the run. 'moved-on' when the record changed meanwhile. */
async function provisionOver(
  deps: ProvisionDeps,
  ws: Workspace,
  request: ProvisionRequest,
  sleep: (ms: number) => Promise<void>,
  context: InvocationContext | undefined,
): Promise<ProvisionResult | { readonly ok: false; readonly reason: string; readonly stage?: undefined } | 'moved-on'> {
  const instanceId = ws.instanceId!;
  const fingerprints = await waitForHostKeys(deps, instanceId, sleep);
  if (fingerprints.length === 0) {
    return { ok: false, reason: `the workspace did not report its SSH host keys on its console within ${Math.round(deps.settings.hostKeyWaitMs / 1000)} s` };
  }
  deps.log.info('host keys read from the console', { ...request, instanceId, fingerprints });
  const job = await provisionJobFor(deps, ws, context);
  const host = await (deps.sshHostOf ?? addressHost)(ws);
  const privateKey = await deps.secrets.sshPrivateKey();
  // A stop or a new launch may have come in while waiting for the console.
  if (!stillProvisioning(await deps.store.get(request), request)) return 'moved-on';
  return deps.remote.provision(
    { host, port: deps.settings.sshPort, username: deps.settings.sshUser, privateKey, hostKeyFingerprints: fingerprints },
    { ...job, secrets: [...(job.secrets ?? []), privateKey] },
  );
}

function stillProvisioning(ws: Workspace | undefined, request: ProvisionRequest): Workspace | undefined {
  return ws && ws.state === 'provisioning' && ws.generation === request.generation && ws.instanceId ? ws : undefined;
}

/**
 * Report through core, only while the record is still provisioning in this generation (an EC2 resume keeps
 * the instance id across generations, so core alone could not tell a late report from a current one).
 */
async function report(
  deps: ProvisionDeps,
  ws: Workspace,
  what: { readonly ok: true; readonly changes: readonly string[] } | { readonly ok: false; readonly reason: string },
): Promise<ProvisionOutcome> {
  const request = { analysisId: ws.analysisId, userId: ws.userId, generation: ws.generation };
  if (!stillProvisioning(await deps.store.get(ws), request)) {
    deps.log.info('provisioning outcome not reported: the workspace moved on', { ...request, ok: what.ok });
    return { outcome: 'skipped', note: 'the workspace moved on before provisioning finished' };
  }
  const instanceId = ws.instanceId!;
  if (what.ok) {
    await handleComputeEvent(deps, { kind: 'tool-ready', instanceId });
    return { outcome: 'ready', changes: what.changes };
  }
  const reason = `Provisioning failed: ${what.reason}`;
  await handleComputeEvent(deps, { kind: 'failed', instanceId, reason });
  return { outcome: 'failed', reason };
}

async function waitForHostKeys(deps: ProvisionDeps, instanceId: string, sleep: (ms: number) => Promise<void>): Promise<readonly string[]> {
  const { hostKeyWaitMs, hostKeyPollMs } = deps.settings;
  const attempts = Math.max(1, Math.floor(hostKeyWaitMs / hostKeyPollMs) + 1);
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const found = await deps.hostKeys.fingerprints(instanceId);
      if (found.length > 0) return found;
      lastError = undefined;
    } catch (error) {
      // throttling and the like may pass within the wait; anything else (e.g. no permission) will not
      if (!(error instanceof TransientError)) throw error;
      lastError = error;
    }
    if (attempt < attempts) await sleep(hostKeyPollMs);
  }
  if (lastError) throw lastError;
  return [];
}

/** Host part of `ip:port`, `[v6]:port` or a bare address. */
export function addressHost(ws: Pick<Workspace, 'address'>): Promise<string> {
  const address = ws.address ?? '';
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  const host = v6 ? v6[1]! : address.includes(':') && address.indexOf(':') === address.lastIndexOf(':') ? address.slice(0, address.indexOf(':')) : address;
  if (!host) return Promise.reject(new Error('the workspace record has no address'));
  return Promise.resolve(host);
}

const RESERVED_LOGINS = new Set([
  'root', 'daemon', 'bin', 'sys', 'sync', 'games', 'man', 'lp', 'mail', 'news', 'uucp', 'proxy', 'www-data', 'backup', 'list', 'irc',
  'gnats', 'nobody', 'nogroup', 'sshd', 'messagebus', 'admin', 'ubuntu', 'debian', 'ec2-user', 'centos', 'fedora', 'chrony', 'polkitd',
  'tss', 'statd', 'tcpdump', 'ntp', 'adm', 'sudo', 'staff', 'users', 'jupyter', 'node',
]);

/**
 * The researcher's login name on the workspace: the user id's local part, lowercased, restricted to
 * letters, digits, `_` and `-`, starting with a letter, at most 32 characters; system and carrel names
 * get an `r-` prefix.
 */
export function researcherLogin(userId: string): string {
  let name = userId.split('@')[0]!.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/-{2,}/g, '-').replace(/^[-_]+|[-_]+$/g, '');
  if (!/^[a-z]/.test(name)) name = `u${name}`;
  if (RESERVED_LOGINS.has(name) || name.startsWith('carrel') || name.startsWith('systemd') || name.startsWith('_')) name = `r-${name}`;
  return name.slice(0, 32).replace(/[-_]+$/, '');
}

/** The desk's origin, as researchers' browsers see it (the gate links back to it and lets it frame the tool). */
export function deskOrigin(config: AppDeps['config']): string {
  return `${config.publicUrlScheme}://${config.deskDomain}${config.publicPort ? `:${config.publicPort}` : ''}`;
}

/**
 * The desk's part of the gate's environment file, in systemd EnvironmentFile syntax (values in single
 * quotes, which systemd takes literally; the PEM keeps its line breaks as `\n`, which the gate expands).
 * The host adds the tool's address and token (provision.sh).
 */
export function gateEnvFile(values: Readonly<Record<string, string>>): string {
  return (
    Object.entries(values)
      .map(([name, value]) => {
        if (!/^CARREL_GATE_[A-Z0-9_]+$/.test(name)) throw new Error(`not a gate setting: ${name}`);
        if (/['\r\n\u0000]/.test(value)) throw new Error(`${name} cannot be written to an environment file`);
        return `${name}='${value}'`;
      })
      .join('\n') + '\n'
  );
}

export function gitRemoteFor(template: string | undefined, ws: Pick<Workspace, 'analysisId' | 'userId'>): string {
  if (!template) return '';
  return template.replaceAll('{analysisId}', encodeURIComponent(ws.analysisId)).replaceAll('{userId}', encodeURIComponent(ws.userId));
}

/** The default synthetic-data key: a desk-signed token naming the analysis and researcher. */
export function signedDataApiKey(deps: Pick<ProvisionDeps, 'signer' | 'settings' | 'clock'>, ws: Workspace): Promise<string> {
  return signJwt(deps.signer, { aud: DATA_API_AUDIENCE, sub: ws.userId, ana: ws.analysisId }, deps.settings.dataApiKeyTtlSeconds, deps.clock.now());
}

/**
 * The upload and the script arguments for one workspace: the desk's part of the gate environment (a fresh
 * agent token), the certificate, the synthetic-data key, the script, the gate bundle and the template.
 */
export async function provisionJobFor(deps: ProvisionDeps, ws: Workspace, context?: InvocationContext): Promise<ProvisionJob> {
  const { settings, config } = deps;
  if (!ws.hostname || !ws.hostLabel) throw new Error('the workspace record has no hostname');
  const [homeId, assets, certificate, publicKeyPem, agentToken, dataApiKey] = await Promise.all([
    deps.homeOf ? deps.homeOf(ws) : deps.homes.ensure(ws).then((home) => home.homeId),
    deps.assets(),
    deps.secrets.gateCertificate(),
    deps.signer.publicKeyPem(),
    agentTokenFor(deps, ws),
    (deps.dataApiKeyFor ?? ((w: Workspace) => signedDataApiKey(deps, w)))(ws),
  ]);
  const origin = deskOrigin(config);
  const gateEnv = gateEnvFile({
    CARREL_GATE_PORT: String(settings.gatePort),
    CARREL_GATE_LISTEN_HOST: '0.0.0.0',
    CARREL_GATE_HOSTNAME: ws.hostname,
    CARREL_GATE_HOST_LABEL: ws.hostLabel,
    CARREL_GATE_PUBLIC_KEY: publicKeyPem.trim().replace(/\r?\n/g, '\\n'),
    CARREL_GATE_DESK_ORIGIN: origin,
    CARREL_GATE_ACTIVITY_URL: `${origin}/api/agent/activity`,
    CARREL_GATE_AGENT_TOKEN: agentToken,
    ...(settings.gateReportSeconds ? { CARREL_GATE_REPORT_SECONDS: String(settings.gateReportSeconds) } : {}),
  });
  const files: UploadFile[] = [
    { path: 'provision.sh', content: assets.script, mode: 0o700 },
    { path: 'gate.mjs', content: assets.gateBundle, mode: 0o600 },
    { path: 'gate.env', content: gateEnv, mode: 0o600 },
    { path: 'tls/cert.pem', content: certificate.certificate, mode: 0o600 },
    { path: 'tls/key.pem', content: certificate.privateKey, mode: 0o600 },
    { path: 'data-api-key', content: `${dataApiKey}\n`, mode: 0o600 },
    ...assets.template.map((file) => ({ path: `template/${file.path}`, content: file.content, mode: 0o600 })),
  ];
  const at = (relative: string) => SshProvisioning.remotePath({ remoteDir: settings.remoteDir }, relative);
  const args = [
    '--user', researcherLogin(ws.userId),
    '--analysis', ws.analysisId,
    '--uid', String(settings.homeUid),
    '--gid', String(settings.homeGid),
    '--access-point', homeId,
    '--file-system', settings.fileSystemId,
    '--data-api-key-file', at('data-api-key'),
    '--git-remote', gitRemoteFor(settings.gitRemoteTemplate, ws),
    '--gate-bundle', at('gate.mjs'),
    '--gate-env', at('gate.env'),
    '--tls-cert', at('tls/cert.pem'),
    '--tls-key', at('tls/key.pem'),
    '--template', at('template'),
    ...(settings.scriptOptions ?? []),
  ];
  const remaining = context ? context.getRemainingTimeInMillis() - REPORT_MARGIN_MS : Infinity;
  if (remaining < MIN_RUN_MS) throw new Error('too little time was left in this invocation to run the provisioning script');
  return {
    remoteDir: settings.remoteDir,
    files,
    script: 'provision.sh',
    args,
    sudo: settings.sudo,
    timeoutMs: settings.runTimeoutMs,
    // connecting and the run both fit in what is left of the invocation, with time to report
    ...(Number.isFinite(remaining) ? { deadlineAt: Date.now() + remaining } : {}),
    secrets: [agentToken, dataApiKey, certificate.privateKey],
  };
}

/** Reads provision.sh, gate.mjs and template/** from a folder (the Lambda bundle; see assets/provision/stage.ts). */
export async function loadProvisionAssets(dir: string): Promise<ProvisionAssets> {
  const templateDir = join(dir, 'template');
  const entries = (await readdir(templateDir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
  const template = await Promise.all(
    entries.map(async (e) => {
      const full = join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
      return { path: full.slice(templateDir.length + 1), content: await readFile(full) };
    }),
  );
  template.sort((a, b) => a.path.localeCompare(b.path));
  const [script, gateBundle] = await Promise.all([readFile(join(dir, 'provision.sh')), readFile(join(dir, 'gate.mjs'))]);
  return { script, gateBundle, template };
}

// ------------------------------------------------------------------------------------------- settings

const whole = (what: string, fallback: number, min: number, max: number) =>
  z.coerce
    .number({ error: `must be a whole number (${what})` })
    .int({ error: `must be a whole number (${what})` })
    .min(min, { error: `must be at least ${min} (${what})` })
    .max(max, { error: `must be at most ${max} (${what})` })
    .default(fallback);
const required = (what: string) => z.string({ error: `is required (${what})` }).trim().min(1, { error: `is required (${what})` });

/**
 * The provisioner's own settings (not in config.ts, which the other functions share), read once from the
 * environment and validated; a ConfigError names every bad setting.
 */
const provisionerEnv = z.object({
  PROVISIONER_SSH_KEY_SECRET_ARN: required("Secrets Manager secret: the provisioner's SSH private key").regex(/^arn:aws[a-z-]*:secretsmanager:/, {
    error: 'must be a Secrets Manager secret ARN',
  }),
  GATE_CERTIFICATE_SECRET_ARN: required('Secrets Manager secret: {certificate, privateKey, expiresAt}').regex(/^arn:aws[a-z-]*:secretsmanager:/, {
    error: 'must be a Secrets Manager secret ARN',
  }),
  EFS_FILE_SYSTEM_ID: required('the homes file system').regex(/^fs-[0-9a-f]{8,40}$/, { error: 'must be an EFS file system id (fs-...)' }),
  HOME_UID: whole('POSIX owner of every home', 1000, 1000, 2_147_483_646),
  HOME_GID: whole('POSIX group of every home', 1000, 1000, 2_147_483_646),
  GATE_PORT: whole("the gate's HTTPS port", 443, 1, 65535),
  WORKSPACE_ADDRESS: z.enum(['private', 'public'], { error: 'must be private or public' }).default('private'),
  PROVISION_TIMEOUT_SECONDS: whole('time limit of the provisioning script', 120, 20, 600),
  HOST_KEY_WAIT_SECONDS: whole('how long to wait for the host keys on the console', 90, 0, 600),
  HOST_KEY_POLL_SECONDS: whole('how often to read the console', 5, 1, 60),
  PROVISION_ASSETS_DIR: z.string().trim().min(1).optional(),
  GIT_REMOTE_TEMPLATE: z
    .string()
    .trim()
    .regex(/^(https|ssh|git):\/\/[^\s]+$|^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+$/, { error: 'must be a git URL (https://, ssh://, git:// or user@host:path)' })
    .optional(),
  DATA_API_KEY_TTL_SECONDS: whole('lifetime of the synthetic-data key', 31_536_000, 3600, 5 * 31_536_000),
  GATE_REPORT_SECONDS: whole('how often gates report activity', 60, 5, 3600),
});

export interface ProvisionerConfig {
  readonly sshKeySecretArn: string;
  readonly certificateSecretArn: string;
  readonly workspaceAddress: 'private' | 'public';
  readonly assetsDir?: string;
  readonly settings: ProvisionSettings;
}

export function loadProvisionerConfig(env: Readonly<Record<string, string | undefined>> = process.env): ProvisionerConfig {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value.trim() !== ''));
  const parsed = provisionerEnv.safeParse(present);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.') || 'environment'} ${issue.message}`));
  const e = parsed.data;
  return {
    sshKeySecretArn: e.PROVISIONER_SSH_KEY_SECRET_ARN,
    certificateSecretArn: e.GATE_CERTIFICATE_SECRET_ARN,
    workspaceAddress: e.WORKSPACE_ADDRESS,
    assetsDir: e.PROVISION_ASSETS_DIR,
    settings: {
      fileSystemId: e.EFS_FILE_SYSTEM_ID,
      homeUid: e.HOME_UID,
      homeGid: e.HOME_GID,
      gatePort: e.GATE_PORT,
      gateReportSeconds: e.GATE_REPORT_SECONDS,
      sshUser: PROVISIONER_USER,
      sshPort: 22,
      sudo: true,
      remoteDir: DEFAULT_REMOTE_DIR,
      runTimeoutMs: e.PROVISION_TIMEOUT_SECONDS * 1000,
      hostKeyWaitMs: e.HOST_KEY_WAIT_SECONDS * 1000,
      hostKeyPollMs: e.HOST_KEY_POLL_SECONDS * 1000,
      gitRemoteTemplate: e.GIT_REMOTE_TEMPLATE,
      dataApiKeyTtlSeconds: e.DATA_API_KEY_TTL_SECONDS,
    },
  };
}
