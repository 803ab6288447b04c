/**
 * DynamoDB operations per request, counted at the client: the counter sits on the runtime's document
 * client (runtime.dynamo.doc, the one the client module memoizes for dynalite's endpoint and the one the
 * store and the catalog were built with), so every command the handlers send is seen, by operation name.
 */
import { countOperations, type OperationCounts } from '../../lambdas/adapters/aws/operation-counter.js';
import { call, type CookieJar } from '../support/http.js';
import type { TestRuntime } from '../support/local-runtime.js';
import { sleep } from './stats.js';

export interface OperationFigure {
  /** What was done, e.g. "status poll". */
  readonly pattern: string;
  /** How many times. */
  readonly requests: number;
  /** Operations seen in all, by name. */
  readonly counts: OperationCounts;
  /** Operations per request, by name. */
  readonly perRequest: OperationCounts;
  readonly totalPerRequest: number;
  readonly note?: string;
}

export interface OperationFigures {
  /** Operations seen while nothing was asked of the desk (must be none, or the others are polluted). */
  readonly background: OperationCounts;
  readonly figures: readonly OperationFigure[];
}

function figure(pattern: string, requests: number, counts: OperationCounts, note?: string): OperationFigure {
  const perRequest = Object.fromEntries(Object.entries(counts).map(([name, n]) => [name, Math.round((n / requests) * 100) / 100]));
  const total = Object.values(counts).reduce((sum, n) => sum + n, 0);
  return { pattern, requests, counts, perRequest, totalPerRequest: Math.round((total / requests) * 100) / 100, ...(note ? { note } : {}) };
}

/**
 * With `analysisId` ready for the user behind `jar`: N status polls, N heartbeats, one open of the ready
 * workspace and one housekeeping pass with nothing due, each counted from zero.
 */
export async function countOperationsPerRequest(t: TestRuntime, jar: CookieJar, analysisId: string, n: number): Promise<OperationFigures> {
  const path = `/api/workspaces/${encodeURIComponent(analysisId)}`;
  const expect200 = async (method: string, url: string) => {
    const reply = await call(t.port, t.desk, method, url, { jar });
    if (reply.status !== 200) throw new Error(`${method} ${url} answered ${reply.status}: ${reply.body}`);
    return reply.json<{ state: string }>();
  };
  if ((await expect200('GET', path)).state !== 'ready') throw new Error(`${analysisId} is not ready for the operation count`);

  const counter = countOperations(t.runtime.dynamo.doc);
  try {
    // A quiet second first: anything counted here (gate reports, timers) would pollute the figures below.
    counter.reset();
    await sleep(1000);
    const background = counter.snapshot();

    counter.reset();
    for (let i = 0; i < n; i++) await expect200('GET', path);
    const polls = figure('status poll (GET /api/workspaces/{id}, ready)', n, counter.snapshot());

    counter.reset();
    for (let i = 0; i < n; i++) await expect200('POST', `${path}/heartbeat`);
    const heartbeats = figure('heartbeat (POST .../heartbeat, ready)', n, counter.snapshot());

    counter.reset();
    const opened = await expect200('POST', `${path}/open`);
    if (opened.state !== 'ready') throw new Error(`open of a ready workspace answered state ${opened.state}`);
    const open = figure('open of an already-ready workspace', 1, counter.snapshot());

    const instances = await t.runtime.compute.listTagged();
    counter.reset();
    const report = (await t.runtime.housekeeping()) as { examined: number; stoppedIdle: string[]; failedOverdue: string[]; terminated: string[]; orphanInstances: string[]; orphanHostnames: string[]; errors: string[] };
    const counts = counter.snapshot();
    const acted = report.examined + report.stoppedIdle.length + report.failedOverdue.length + report.terminated.length + report.orphanInstances.length + report.orphanHostnames.length + report.errors.length;
    if (acted) throw new Error(`the housekeeping pass was meant to have nothing due, but it reported ${JSON.stringify(report)}`);
    const running = instances.filter((i) => i.state === 'running').length;
    const housekeeping = figure('housekeeping pass, nothing due', 1, counts, `${instances.length} instances known (${running} running, ${instances.length - running} stopped)`);

    return { background, figures: [polls, heartbeats, open, housekeeping] };
  } finally {
    counter.detach();
  }
}

/** `GetItem 1, UpdateItem 1` (sorted by name), or `none`. */
export function formatCounts(counts: OperationCounts): string {
  const entries = Object.entries(counts).sort(([a], [b]) => a.localeCompare(b));
  return entries.length ? entries.map(([name, n]) => `${name} ${n}`).join(', ') : 'none';
}
