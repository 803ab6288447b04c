/**
 * The enclave sandbox of local mode: bubblewrap. The run sees a read-only system (/usr), its approved
 * code read-only at /code, the real dataset read-only at /data, a private /tmp, and /outputs as the only
 * writable place it shares with the host. No network (`--unshare-all` includes the network namespace),
 * no host environment (`--clearenv`), no host home, no instance metadata (there is no network to reach it).
 */
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { RUN_SCRIPT } from '../../lambdas/core/runs/run.js';

export interface SandboxRun {
  /** Approved, verified code (extracted archive), mounted read-only at /code; the working directory. */
  readonly codeDir: string;
  /** The real dataset, mounted read-only at /data. */
  readonly datasetDir: string;
  /** Empty folder mounted read-write at /outputs: the only thing that leaves the run. */
  readonly outputsDir: string;
  /** Where the run's stdout and stderr go (on the host, for the reviewers). */
  readonly logFile: string;
  /** @default ['sh', RUN_SCRIPT] */
  readonly command?: readonly string[];
  /** Killed after this long. @default 10 minutes */
  readonly timeoutMs?: number;
}

export interface SandboxResult {
  readonly exitCode: number;
  readonly timedOut: boolean;
}

/** The bwrap arguments for a run (exported for tests and for whoever audits the sandbox). */
export function bwrapArgs(run: SandboxRun): string[] {
  const args = ['--unshare-all', '--die-with-parent', '--new-session', '--clearenv'];
  const env: Record<string, string> = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp', LANG: 'C.UTF-8', DATA_DIR: '/data', OUTPUTS_DIR: '/outputs' };
  for (const [name, value] of Object.entries(env)) args.push('--setenv', name, value);
  args.push('--ro-bind', '/usr', '/usr');
  // Merged-/usr systems link /bin, /lib... into /usr; others have real folders.
  for (const top of ['/bin', '/sbin', '/lib', '/lib32', '/lib64']) {
    if (!existsSync(top)) continue;
    if (lstatSync(top).isSymbolicLink()) args.push('--symlink', readlinkSync(top), top);
    else args.push('--ro-bind', top, top);
  }
  for (const etc of ['/etc/alternatives', '/etc/ld.so.cache', '/etc/ssl/certs']) if (existsSync(etc)) args.push('--ro-bind', etc, etc);
  args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp');
  args.push('--ro-bind', run.codeDir, '/code', '--ro-bind', run.datasetDir, '/data', '--bind', run.outputsDir, '/outputs');
  args.push('--chdir', '/code', '--', ...(run.command ?? ['sh', RUN_SCRIPT]));
  return args;
}

export class BubblewrapSandbox {
  constructor(private readonly bwrap = '/usr/bin/bwrap') {}

  available(): boolean {
    return existsSync(this.bwrap);
  }

  async run(run: SandboxRun): Promise<SandboxResult> {
    const log = await open(run.logFile, 'w');
    try {
      const child = spawn(this.bwrap, bwrapArgs(run), { stdio: ['ignore', log.fd, log.fd], detached: true, env: {} });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      }, run.timeoutMs ?? 600_000);
      const exitCode = await new Promise<number>((resolve, reject) => {
        child.on('error', reject);
        child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + 9 : 1)));
      }).finally(() => clearTimeout(timer));
      return { exitCode, timedOut };
    } finally {
      await log.close();
    }
  }
}
