/**
 * Jupyter alone: start jupyter-notebook directly, with the arguments and environment local/compute.ts
 * gives it (a fresh notebook folder, a free port, a token), and time until its /api/status answers 200
 * to that token. The baseline the platform's open is compared with.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jupyterLaunch } from '../../local/jupyter.js';
import { freePort, killGroups, spawnDetached, tail } from '../../local/processes.js';
import { call } from '../support/http.js';
import type { Cleanups } from './cleanups.js';

/** Milliseconds from spawning jupyter-notebook until GET /api/status with the token answers 200. */
export async function timeJupyterAlone(command: string, cleanups: Cleanups, options: { pollMs: number; timeoutMs: number }): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'carrel-bench-jupyter-'));
  const home = join(dir, 'home');
  await mkdir(home, { mode: 0o700 });
  let pid: number | undefined;
  const release = cleanups.add(async () => {
    await killGroups([pid]);
    await rm(dir, { recursive: true, force: true });
  });
  try {
    const port = await freePort();
    const token = randomBytes(24).toString('hex');
    const { args, env } = jupyterLaunch({ port, notebookDir: home, token, stateDir: dir });
    await mkdir(env.JUPYTER_RUNTIME_DIR, { mode: 0o700 });

    const started = performance.now();
    const child = spawnDetached(command, args, { cwd: home, env, logFile: join(dir, 'tool.log') });
    pid = child.pid;
    let exited: string | undefined;
    child.once('error', (error) => (exited = `could not start ${command}: ${error.message}`));
    child.once('exit', (code, signal) => (exited = `${command} exited (${signal ?? `code ${code}`})`));

    while (performance.now() - started < options.timeoutMs) {
      if (exited) throw new Error(`${exited}: ${await tail(join(dir, 'tool.log'), 3)}`);
      try {
        const reply = await call(port, '127.0.0.1', 'GET', '/api/status', { headers: { authorization: `token ${token}` } });
        if (reply.status === 200) return performance.now() - started;
      } catch {
        /* not listening yet */
      }
      await new Promise((resolve) => setTimeout(resolve, options.pollMs));
    }
    throw new Error(`${command} did not answer /api/status within ${options.timeoutMs} ms`);
  } finally {
    release();
    await killGroups([pid]);
    await rm(dir, { recursive: true, force: true });
  }
}
