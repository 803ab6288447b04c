/**
 * Figure 6: the enclave in local mode, through the desk's HTTP API as the browser drives it (the same
 * runtime, the synthesized state machine under aws-local-stepfunctions, bubblewrap): submit → the run waits
 * for code review; code approval → it waits for output review (build, run with the real data, collect,
 * checks); output approval → released. Each is timed from the request's start until a poll of the run
 * (every POLL_MS) sees the state; medians of `samples` runs after one warm-up run.
 */
import { existsSync } from 'node:fs';
import { call, type CookieJar } from '../support/http.js';
import { signIn, type TestRuntime } from '../support/local-runtime.js';
import { round1, sleep, summarize, table, type Summary } from './stats.js';

export interface EnclaveFigures {
  readonly samples: number;
  readonly pollMs: number;
  readonly submitToCodeReview: Summary;
  readonly approvalToOutputReview: Summary;
  readonly approvalToReleased: Summary;
  readonly rounds: readonly { readonly submit: number; readonly code: number; readonly outputs: number }[];
}

export type EnclaveResult = EnclaveFigures | { readonly skipped: string };

async function waitForState(t: TestRuntime, jar: CookieJar, id: string, state: string, pollMs: number, timeoutMs: number): Promise<any> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const detail = (await call(t.port, t.desk, 'GET', `/api/runs/${id}`, { jar })).json();
    if (detail.run?.state === state) return detail;
    if (detail.run?.state === 'failed') throw new Error(`run ${id} failed: ${detail.run.failure?.message}`);
    if (performance.now() > until) throw new Error(`run ${id} is ${detail.run?.state}, not ${state}, after ${timeoutMs} ms`);
    await sleep(pollMs);
  }
}

async function decide(t: TestRuntime, jar: CookieJar, id: string, manifestDigest: string) {
  const reply = await call(t.port, t.desk, 'POST', `/api/runs/${id}/decisions`, { jar, body: { verdict: 'approve', comment: 'bench', manifestDigest } });
  if (reply.status !== 200) throw new Error(`approval refused: ${reply.status} ${reply.body}`);
}

export async function measureEnclave(t: TestRuntime, samples: number, options: { pollMs: number; timeoutMs: number; progress: (m: string) => void }): Promise<EnclaveResult> {
  if (!existsSync('/usr/bin/bwrap')) return { skipped: 'bubblewrap is not installed (npm run setup installs it)' };
  await t.runtime.homes.ensure({ analysisId: 'demo', userId: 'alice' });
  const [alice, rita] = await Promise.all([signIn(t, 'alice'), signIn(t, 'rita')]);
  const rounds: { submit: number; code: number; outputs: number }[] = [];
  for (let round = 0; round <= samples; round++) {
    let start = performance.now();
    const submitted = await call(t.port, t.desk, 'POST', '/api/analyses/demo/runs', { jar: alice, body: { description: `bench ${round}` } });
    if (submitted.status !== 202) throw new Error(`submit refused: ${submitted.status} ${submitted.body}`);
    const { id } = submitted.json();
    const atCode = await waitForState(t, rita, id, 'code-review', options.pollMs, options.timeoutMs);
    const submit = performance.now() - start;
    start = performance.now();
    await decide(t, rita, id, atCode.manifest.digest);
    const atOutputs = await waitForState(t, rita, id, 'output-review', options.pollMs, options.timeoutMs);
    const code = performance.now() - start;
    start = performance.now();
    await decide(t, rita, id, atOutputs.outputs.digest);
    await waitForState(t, alice, id, 'released', options.pollMs, options.timeoutMs);
    const outputs = performance.now() - start;
    options.progress(`${round === 0 ? 'warm-up' : `enclave round ${round}/${samples}`}: submit → code review ${round1(submit)} ms, approval → output review ${round1(code)} ms, approval → released ${round1(outputs)} ms`);
    // Round 0 warms up (first sandbox start, module loads) and is not counted.
    if (round > 0) rounds.push({ submit: round1(submit), code: round1(code), outputs: round1(outputs) });
  }
  return {
    samples,
    pollMs: options.pollMs,
    submitToCodeReview: summarize(rounds.map((r) => r.submit)),
    approvalToOutputReview: summarize(rounds.map((r) => r.code)),
    approvalToReleased: summarize(rounds.map((r) => r.outputs)),
    rounds,
  };
}

export function enclaveReport(f: EnclaveResult): string {
  if ('skipped' in f) return `\nFigure 6: enclave run, local (skipped: ${f.skipped})\n`;
  const row = (what: string, s: Summary) => [what, s.median, s.min, s.max];
  return `\n${table(`Figure 6: enclave run, local, through the desk API (ms, ${f.samples} runs, polled every ${f.pollMs} ms)`, ['step', 'median', 'min', 'max'], [
    row('submit → code-review waiting', f.submitToCodeReview),
    row('code approval → output-review waiting (build, run, collect, check)', f.approvalToOutputReview),
    row('output approval → released', f.approvalToReleased),
  ])}`;
}
