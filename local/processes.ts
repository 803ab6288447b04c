import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';

/** An unused loopback TCP port (the tiny race before the child binds it is acceptable locally). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Whether a process runs. A zombie does not: workspace processes outlive the runtime that started them
 * and are re-parented to PID 1, which in a container often never reaps them, so after they end they
 * would still answer `kill(pid, 0)` (Linux: read from /proc; elsewhere the signal probe alone).
 */
export function isAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true; // no /proc here: trust the signal probe
  }
}

/**
 * Start a process in its own process group, detached from this runtime so that a restart of the
 * runtime (even kill -9) does not take workspaces down; output goes to a log file.
 * With `pidFile`, the child itself writes its pid there before it runs the command (`sh` then `exec`,
 * so the pid stays the same): a runtime killed right after the spawn, before it could record the pid,
 * leaves the pid behind all the same, and the next runtime can end the process. A command that cannot
 * be run then exits with 127 and a message in the log, rather than failing the spawn.
 */
export function spawnDetached(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; logFile: string; pidFile?: string }): ChildProcess {
  const fd = openSync(options.logFile, 'a', 0o600);
  try {
    const [file, argv] = options.pidFile
      ? ['/bin/sh', ['-c', 'echo $$ > "$0" && exec "$@"', options.pidFile, command, ...args]]
      : [command, args];
    const child = spawn(file, argv, { cwd: options.cwd, env: options.env, detached: true, stdio: ['ignore', fd, fd] });
    child.unref();
    return child;
  } finally {
    closeSync(fd);
  }
}

/** Signal a whole process group (the tool and everything it started, e.g. kernels). */
function signalGroup(pid: number, signal: NodeJS.Signals) {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, signal);
    } catch {
      /* already gone */
    }
  }
}

/** SIGTERM the groups, then SIGKILL whatever is still alive after `graceMs`. */
export async function killGroups(pids: readonly (number | undefined)[], graceMs = 3000): Promise<void> {
  const live = pids.filter((pid): pid is number => isAlive(pid));
  for (const pid of live) signalGroup(pid, 'SIGTERM');
  const until = Date.now() + graceMs;
  while (live.some(isAlive) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  for (const pid of live) if (isAlive(pid)) signalGroup(pid, 'SIGKILL');
}

/** The pid a child wrote with `spawnDetached({ pidFile })`, if any. */
export async function readPidFile(file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isSafeInteger(pid) && pid > 1 ? pid : undefined;
}

export async function tail(file: string, lines: number): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
