/** Start the real local runtime for a test: temp data folder, free port, fast timers. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFrontend } from '../../frontend/build.js';
import { buildGate } from '../../assets/gate/build.js';
import { loadLocalConfig } from '../../local/config.js';
import { freePort } from '../../local/processes.js';
import { startLocalRuntime, type LocalRuntime } from '../../local/runtime.js';
import { silentLog, type Log } from '../../lambdas/core/index.js';
import { call, type CookieJar, waitFor } from './http.js';
import { signInThroughIdp } from './sign-in.js';

let built: Promise<{ siteDir: string; gateBundle: string }> | undefined;

/** Build the front desk and the gate once per test process. */
export function testAssets() {
  built ??= (async () => {
    const root = await mkdtemp(join(tmpdir(), 'carrel-assets-'));
    const siteDir = join(root, 'site');
    const gateBundle = join(root, 'gate', 'gate.mjs');
    await Promise.all([buildFrontend(siteDir), buildGate(gateBundle)]);
    return { siteDir, gateBundle };
  })();
  return built;
}

export interface TestRuntime {
  readonly runtime: LocalRuntime;
  readonly port: number;
  readonly dataDir: string;
  readonly desk: string;
  close(): Promise<void>;
}

export async function startTestRuntime(env: Record<string, string> = {}, dataDir?: string, log?: Log): Promise<TestRuntime> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'carrel-data-')));
  const port = await freePort();
  const config = loadLocalConfig(
    {},
    {
      PORT: String(port),
      CARREL_DATA_DIR: dir,
      CARREL_HOUSEKEEPING_SECONDS: '3600',
      CARREL_GATE_REPORT_SECONDS: '1',
      ...env,
    },
  );
  const runtime = await startLocalRuntime(config, await testAssets(), log ?? (process.env.CARREL_TEST_LOG ? undefined : silentLog));
  return {
    runtime,
    port,
    dataDir: dir,
    desk: 'app.localhost',
    async close() {
      await runtime.close({ stopWorkspaces: true });
      if (!dataDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Sign in as `username` through the desk's OpenID Connect sign-in and the local identity provider. */
export async function signIn(t: TestRuntime, username: string): Promise<CookieJar> {
  return (await signInThroughIdp(t.port, t.desk, username)).jar;
}

/** Open a workspace and poll status until it is ready (or fails); returns the ready view. */
export async function openUntilReady(t: TestRuntime, jar: CookieJar, analysisId: string, timeoutMs = 60_000): Promise<any> {
  const opened = await call(t.port, t.desk, 'POST', `/api/workspaces/${analysisId}/open`, { jar });
  if (opened.status !== 200) throw new Error(`open failed: ${opened.status} ${opened.body}`);
  const view = await waitFor(
    `${analysisId} to be ready`,
    async () => {
      const current = (await call(t.port, t.desk, 'GET', `/api/workspaces/${analysisId}`, { jar })).json();
      return current.state === 'ready' || current.state === 'failed' ? current : undefined;
    },
    timeoutMs,
    100,
  );
  if (view.state === 'failed') throw new Error(`workspace failed: ${view.reason}`);
  return view;
}
