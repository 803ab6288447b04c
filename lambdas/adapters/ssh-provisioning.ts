/**
 * Runs the provisioning script on a workspace host over SSH (node-ssh):
 *  1. connect as the provisioner user with its private key, refusing every host key whose SHA256
 *     fingerprint is not one of those the host reported at boot (never trust-on-first-use); a host that
 *     is still booting (connection refused, handshake timeout) is retried until a deadline;
 *  2. upload the files (script, gate bundle, gate environment, certificate, ...) over SFTP into a fresh
 *     private folder, with their modes set at creation (secrets are never written to local disk);
 *  3. run the script (with `sudo -n` unless already root) under `timeout`, with a client-side limit too;
 *  4. remove the uploaded files, whatever happened, and map the outcome: success with the changes the
 *     script printed, or a failure with a stage and a reason fit to show a researcher (the script's last
 *     `carrel-provision: ...` line; every known secret redacted).
 */
import { createHash } from 'node:crypto';
import { NodeSSH } from 'node-ssh';

/** Where to connect, as whom, and which host keys to accept. */
export interface SshTarget {
  readonly host: string;
  /** Default 22. */
  readonly port?: number;
  readonly username: string;
  /** OpenSSH or PEM private key. */
  readonly privateKey: string;
  /** `SHA256:<base64>` fingerprints the host reported (e.g. on its console); any other key is refused. */
  readonly hostKeyFingerprints: readonly string[];
}

export interface UploadFile {
  /** Path relative to the job's remote folder (`a/b.txt` creates `a/`). */
  readonly path: string;
  readonly content: string | Uint8Array;
  /** e.g. 0o600 for secrets, 0o700 for the script. */
  readonly mode: number;
}

export interface ProvisionJob {
  /** Absolute folder the files are uploaded to (emptied first, removed afterwards). */
  readonly remoteDir: string;
  readonly files: readonly UploadFile[];
  /** The uploaded file to run (relative path). */
  readonly script: string;
  /** Arguments; relative paths of uploaded files may be turned absolute with `remotePath`. */
  readonly args: readonly string[];
  /** Run with `sudo -n` (the provisioner user); false when connected as root. */
  readonly sudo: boolean;
  /** Time limit of the script run. */
  readonly timeoutMs: number;
  /**
   * Epoch ms by which everything must be over (e.g. the invocation's end less time to report): connecting
   * stops trying, and the run's limit shrinks, to fit.
   */
  readonly deadlineAt?: number;
  /** Values never to repeat in a reason (tokens, keys): replaced by `[redacted]`. */
  readonly secrets?: readonly string[];
}

export type ProvisionStage = 'host-key' | 'connect' | 'authenticate' | 'upload' | 'run' | 'timeout';

export type ProvisionResult =
  | { readonly ok: true; readonly changes: readonly string[]; readonly summary: string; readonly durationMs: number }
  | {
      readonly ok: false;
      readonly stage: ProvisionStage;
      readonly reason: string;
      readonly exitCode?: number;
      /** Changes the script reported before failing. */
      readonly changes: readonly string[];
      /** The host key presented, when it was refused. */
      readonly presentedFingerprint?: string;
    };

/** What the provisioner handler needs from this adapter (tests may substitute it). */
export interface RemoteProvisioning {
  provision(target: SshTarget, job: ProvisionJob): Promise<ProvisionResult>;
}

export interface SshProvisioningOptions {
  /** How long to keep trying to reach a host that is still booting. Default 60 s. */
  readonly connectWaitMs?: number;
  /** Pause between connection attempts. Default 3 s. */
  readonly connectRetryMs?: number;
  /** SSH handshake limit per attempt. Default 10 s. */
  readonly handshakeTimeoutMs?: number;
  /** Extra time the client waits after the remote `timeout` should have fired. Default 15 s. */
  readonly graceMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** `SHA256:<unpadded base64>` of an SSH public key blob (what `ssh-keygen -l` prints). */
export function sshFingerprint(keyBlob: Uint8Array): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** Canonical form of a SHA256 fingerprint, or undefined when it is not one. */
export function normalizeFingerprint(value: string): string | undefined {
  const match = /^(?:SHA256:)?([A-Za-z0-9+/]{43})=?$/.exec(value.trim());
  return match ? `SHA256:${match[1]}` : undefined;
}

/** POSIX shell single-quoting. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export const REASON_PREFIX = 'carrel-provision:';
const MAX_REASON = 300;

/** Replace each secret (and each line of a multi-line secret) with `[redacted]`. */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  const pieces = secrets.flatMap((s) => [s, ...s.split(/\r?\n/)]).map((s) => s.trim()).filter((s) => s.length >= 8);
  for (const piece of [...new Set(pieces)].sort((a, b) => b.length - a.length)) out = out.split(piece).join('[redacted]');
  return out;
}

/** A reason fit for the researcher's page: one printable line, secrets redacted, bounded length. */
export function cleanReason(text: string, secrets?: readonly string[]): string {
  const line = redact(text, secrets)
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return line.length > MAX_REASON ? `${line.slice(0, MAX_REASON - 1)}…` : line;
}

/**
 * The script's own reason (its last `carrel-provision: ...` line, stderr first), else the last line of
 * stderr, else the exit code.
 */
export function scriptReason(stdout: string, stderr: string, exitCode: number | null, secrets?: readonly string[]): string {
  const lines = (text: string) => text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const own = (text: string) => lines(text).filter((l) => l.startsWith(REASON_PREFIX)).pop();
  const found = own(stderr) ?? own(stdout);
  if (found) return cleanReason(found.slice(REASON_PREFIX.length), secrets);
  const last = lines(stderr).pop();
  if (last) return cleanReason(`the provisioning script failed (exit ${exitCode ?? '?'}): ${last}`, secrets);
  return `the provisioning script failed (exit ${exitCode ?? 'unknown'})`;
}

function changesIn(stdout: string): string[] {
  return stdout
    .split(/\r?\n/)
    .filter((l) => l.startsWith('changed: '))
    .map((l) => l.slice('changed: '.length).trim());
}

/** Below this, a run is not worth starting. */
const MIN_RUN_MS = 10_000;

const SAFE_DIR = /^\/[A-Za-z0-9._/-]+$/;
const SAFE_RELATIVE = /^(?!\/)(?!.*(^|\/)\.\.?(\/|$))[A-Za-z0-9._/-]+$/;

/** Error classes ssh2 reports (its `level`), used to decide whether a failed connection is worth retrying. */
type Ssh2Error = Error & { level?: string; code?: string };

const RETRYABLE_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN']);

export class SshProvisioning implements RemoteProvisioning {
  private readonly connectWaitMs: number;
  private readonly connectRetryMs: number;
  private readonly handshakeTimeoutMs: number;
  private readonly graceMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: SshProvisioningOptions = {}) {
    this.connectWaitMs = options.connectWaitMs ?? 60_000;
    this.connectRetryMs = options.connectRetryMs ?? 3_000;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
    this.graceMs = options.graceMs ?? 15_000;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Absolute remote path of an uploaded file. */
  static remotePath(job: Pick<ProvisionJob, 'remoteDir'>, relative: string): string {
    return `${job.remoteDir.replace(/\/+$/, '')}/${relative}`;
  }

  async provision(target: SshTarget, job: ProvisionJob): Promise<ProvisionResult> {
    const started = Date.now();
    const expected = new Set(target.hostKeyFingerprints.map(normalizeFingerprint).filter((f): f is string => Boolean(f)));
    if (expected.size === 0) return failure('host-key', 'no host key fingerprint to verify the workspace against');
    if (!SAFE_DIR.test(job.remoteDir)) throw new TypeError(`Unsafe remote folder: ${job.remoteDir}`);
    for (const file of job.files) if (!SAFE_RELATIVE.test(file.path)) throw new TypeError(`Unsafe upload path: ${file.path}`);
    if (!job.files.some((f) => f.path === job.script)) throw new TypeError(`The script ${job.script} is not among the uploaded files`);

    const connected = await this.connect(target, expected, job.deadlineAt);
    if (!('ssh' in connected)) return connected;
    const { ssh } = connected;
    const dir = job.remoteDir.replace(/\/+$/, '');
    try {
      try {
        await this.upload(ssh, dir, job.files);
      } catch (error) {
        return failure('upload', cleanReason(`could not upload the provisioning files: ${(error as Error).message}`, job.secrets));
      }
      return await this.run(ssh, dir, job, started);
    } finally {
      // Best effort: the uploaded secrets do not stay on the host (the script copied what it needs).
      await withTimeout(ssh.execCommand(`rm -rf -- ${shellQuote(dir)}`), 10_000).catch(() => undefined);
      ssh.dispose();
    }
  }

  private async connect(
    target: SshTarget,
    expected: ReadonlySet<string>,
    deadlineAt = Infinity,
  ): Promise<{ ssh: NodeSSH } | Extract<ProvisionResult, { ok: false }>> {
    const deadline = Math.min(Date.now() + this.connectWaitMs, deadlineAt - MIN_RUN_MS);
    for (let attempt = 1; ; attempt++) {
      let presented: string | undefined;
      let refused = false;
      const ssh = new NodeSSH();
      try {
        await ssh.connect({
          host: target.host,
          port: target.port ?? 22,
          username: target.username,
          privateKey: target.privateKey,
          readyTimeout: this.handshakeTimeoutMs,
          keepaliveInterval: 10_000,
          tryKeyboard: false,
          // ssh2 hands the raw public key blob when `hostHash` is not set.
          hostVerifier: (key: Buffer) => {
            presented = sshFingerprint(key);
            refused = !expected.has(presented);
            return !refused;
          },
        } as Parameters<NodeSSH['connect']>[0]);
        return { ssh };
      } catch (error) {
        ssh.dispose();
        if (refused) {
          return {
            ...failure(
              'host-key',
              `the workspace presented an SSH host key (${presented}) other than the ones it reported at boot; refusing to connect`,
            ),
            presentedFingerprint: presented,
          };
        }
        const e = error as Ssh2Error;
        if (e.level === 'client-authentication') {
          return failure('authenticate', `the workspace refused the provisioner's SSH key for ${target.username}`);
        }
        const retryable = e.level === 'client-timeout' || (e.code !== undefined && RETRYABLE_SOCKET_CODES.has(e.code)) || /handshake/i.test(e.message);
        if (!retryable || Date.now() + this.connectRetryMs > deadline) {
          return failure('connect', cleanReason(`could not reach the workspace over SSH after ${attempt} attempt(s): ${e.code ?? e.message}`));
        }
        await this.sleep(this.connectRetryMs);
      }
    }
  }

  private async upload(ssh: NodeSSH, dir: string, files: readonly UploadFile[]): Promise<void> {
    const prepared = await ssh.execCommand(`rm -rf -- ${shellQuote(dir)} && mkdir -m 700 -- ${shellQuote(dir)}`);
    if (prepared.code !== 0) throw new Error(prepared.stderr.trim() || `cannot create ${dir}`);
    const sftp = await ssh.requestSFTP();
    try {
      const made = new Set<string>();
      for (const file of files) {
        const parts = file.path.split('/').slice(0, -1);
        for (let i = 1; i <= parts.length; i++) {
          const sub = `${dir}/${parts.slice(0, i).join('/')}`;
          if (made.has(sub)) continue;
          await new Promise<void>((resolve, reject) => sftp.mkdir(sub, { mode: 0o700 }, (error: unknown) => (error ? reject(error) : resolve())));
          made.add(sub);
        }
        const path = `${dir}/${file.path}`;
        const data = typeof file.content === 'string' ? Buffer.from(file.content, 'utf8') : Buffer.from(file.content);
        await new Promise<void>((resolve, reject) =>
          sftp.writeFile(path, data, { mode: file.mode }, (error: unknown) => (error ? reject(error) : resolve())),
        );
        // the server's umask may have narrowed the mode; make it exact
        await new Promise<void>((resolve, reject) => sftp.chmod(path, file.mode, (error: unknown) => (error ? reject(error) : resolve())));
      }
    } finally {
      sftp.end();
    }
  }

  private async run(ssh: NodeSSH, dir: string, job: ProvisionJob, started: number): Promise<ProvisionResult> {
    const left = (job.deadlineAt ?? Infinity) - Date.now() - this.graceMs;
    if (left < Math.min(job.timeoutMs, MIN_RUN_MS)) return failure('timeout', 'too little time was left to run the provisioning script');
    const limitMs = Math.min(job.timeoutMs, left);
    const seconds = Math.max(1, Math.floor(limitMs / 1000));
    const command = [
      'timeout',
      '--kill-after=10',
      String(seconds),
      ...(job.sudo ? ['sudo', '-n'] : []),
      shellQuote(`${dir}/${job.script}`),
      ...job.args.map(shellQuote),
    ].join(' ');
    let result;
    try {
      result = await withTimeout(ssh.execCommand(command), seconds * 1000 + this.graceMs);
    } catch (error) {
      if (error instanceof TimeLimitError) {
        return failure('timeout', `provisioning took longer than ${seconds} s and was stopped`);
      }
      return failure('run', cleanReason(`the SSH session to the workspace broke: ${(error as Error).message}`, job.secrets));
    }
    const changes = changesIn(result.stdout);
    if (result.code === 0) {
      const summary = result.stdout.split(/\r?\n/).filter((l) => l.startsWith(REASON_PREFIX)).pop() ?? `${REASON_PREFIX} ok`;
      return { ok: true, changes, summary: cleanReason(summary, job.secrets), durationMs: Date.now() - started };
    }
    if (result.code === 124 || result.code === 137) {
      return { ...failure('timeout', `provisioning took longer than ${seconds} s and was stopped`, result.code), changes };
    }
    return { ...failure('run', scriptReason(result.stdout, result.stderr, result.code, job.secrets), result.code ?? undefined), changes };
  }
}

function failure(stage: ProvisionStage, reason: string, exitCode?: number): Extract<ProvisionResult, { ok: false }> {
  return { ok: false, stage, reason, changes: [], ...(exitCode === undefined ? {} : { exitCode }) };
}

class TimeLimitError extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'TimeLimitError';
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeLimitError(ms)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
