/**
 * Local open → Jupyter answering through the gate, as a browser sees it: POST open, poll the desk's
 * status until ready (which also sets the gate cookie), then GET /api/status on the workspace host,
 * through the local router and the gate, until Jupyter answers 200.
 */
import { call, type CookieJar } from '../support/http.js';
import type { TestRuntime } from '../support/local-runtime.js';
import { sleep } from './stats.js';

export interface OpenTiming {
  /** The POST /open call itself. */
  readonly openCallMs: number;
  /** Until the desk's status said ready. */
  readonly readyMs: number;
  /** Until Jupyter answered 200 through the gate: the figure. */
  readonly answeringMs: number;
  /** Whether the desk reported a resume (stopped instance started) rather than a launch. */
  readonly resumed: boolean;
  readonly hostname: string;
}

export interface PollOptions {
  readonly pollMs: number;
  readonly timeoutMs: number;
}

interface View {
  state: string;
  url?: string;
  reason?: string;
  resumed?: boolean;
}

const workspacePath = (analysisId: string) => `/api/workspaces/${encodeURIComponent(analysisId)}`;

export async function openToAnswering(t: TestRuntime, jar: CookieJar, analysisId: string, options: PollOptions): Promise<OpenTiming> {
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  const opened = await call(t.port, t.desk, 'POST', `${workspacePath(analysisId)}/open`, { jar });
  const openCallMs = elapsed();
  if (opened.status !== 200) throw new Error(`open ${analysisId} answered ${opened.status}: ${opened.body}`);
  let view = opened.json<View>();
  while (view.state !== 'ready') {
    if (view.state === 'failed') throw new Error(`workspace ${analysisId} failed: ${view.reason}`);
    if (elapsed() > options.timeoutMs) throw new Error(`workspace ${analysisId} not ready within ${options.timeoutMs} ms (last state ${view.state})`);
    await sleep(options.pollMs);
    const status = await call(t.port, t.desk, 'GET', workspacePath(analysisId), { jar });
    if (status.status !== 200) throw new Error(`status of ${analysisId} answered ${status.status}: ${status.body}`);
    view = status.json<View>();
  }
  const readyMs = elapsed();
  if (!view.url) throw new Error(`ready workspace ${analysisId} has no url`);
  const hostname = new URL(view.url).hostname;
  for (;;) {
    const reply = await call(t.port, hostname, 'GET', '/api/status', { jar }).catch(() => undefined);
    if (reply?.status === 200) break;
    if (elapsed() > options.timeoutMs) throw new Error(`Jupyter on ${hostname} did not answer through the gate within ${options.timeoutMs} ms (last ${reply?.status})`);
    await sleep(options.pollMs);
  }
  return { openCallMs, readyMs, answeringMs: elapsed(), resumed: view.resumed === true, hostname };
}

/** POST stop, then poll until the desk says stopped; returns the milliseconds it took. */
export async function stopUntilStopped(t: TestRuntime, jar: CookieJar, analysisId: string, options: PollOptions): Promise<number> {
  const started = performance.now();
  const stopped = await call(t.port, t.desk, 'POST', `${workspacePath(analysisId)}/stop`, { jar });
  if (stopped.status !== 200) throw new Error(`stop ${analysisId} answered ${stopped.status}: ${stopped.body}`);
  let view = stopped.json<View>();
  while (view.state !== 'stopped') {
    if (view.state === 'failed') throw new Error(`workspace ${analysisId} failed while stopping: ${view.reason}`);
    if (performance.now() - started > options.timeoutMs) throw new Error(`workspace ${analysisId} not stopped within ${options.timeoutMs} ms (last state ${view.state})`);
    await sleep(options.pollMs);
    view = (await call(t.port, t.desk, 'GET', workspacePath(analysisId), { jar })).json<View>();
  }
  return performance.now() - started;
}
