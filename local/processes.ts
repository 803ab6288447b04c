import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
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

export function isAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Start a process in its own process group, detached from this runtime so that a restart of the
 * runtime (even kill -9) does not take workspaces down; output goes to a log file.
 */
export function spawnDetached(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; logFile: string }): ChildProcess {
  const fd = openSync(options.logFile, 'a', 0o600);
  try {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, detached: true, stdio: ['ignore', fd, fd] });
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

export async function tail(file: string, lines: number): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
