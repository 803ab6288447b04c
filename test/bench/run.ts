/**
 * `npm run bench`: the figures issue 3 asks for, in one run, on loopback only:
 *   1. local open → Jupyter answering through the gate (cold launches and warm resumes) vs Jupyter alone;
 *   2. gate throughput and added latency vs direct for a small GET (autocannon);
 *   3. DynamoDB operations per status poll, per heartbeat, per open of a ready workspace and per
 *      housekeeping pass with nothing due, counted at the client;
 *   4. the AWS open→ready critical path as a model and AWS API calls per workspace-hour (aws-model.ts);
 *   5. each Lambda's bundle: size, SDK client packages, module load time in a fresh node (bundles.ts);
 *   6. an enclave run through the desk API: submit → code review, approval → output review, approval →
 *      released (enclave.ts); 6b. the AWS download link of a 5 GiB released archive, modeled (download-link.ts).
 * Prints machine facts, a table per figure, then one JSON line with every figure (the last line).
 * Progress goes to stderr. Bounded: a fixed number of samples and a time limit; it cleans up its
 * runtime, processes and temp folders however it ends.
 *
 * Settings (environment): BENCH_SAMPLES (rounds, ≥ 5, default 5), BENCH_TIME_LIMIT_SECONDS (default 300).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoAnalysisCatalog } from '../../lambdas/adapters/aws/dynamo-catalog.js';
import { loadLocalConfig } from '../../local/config.js';
import { benchGate } from '../gate/bench-gate.js';
import { killGroups } from '../../local/processes.js';
import { signIn, startTestRuntime, type TestRuntime } from '../support/local-runtime.js';
import { awsModel, awsReport, type AwsFigures } from './aws-model.js';
import { bundleFigures, bundleReport, type BundleFigures } from './bundles.js';
import { childProcessIds, Cleanups } from './cleanups.js';
import { downloadLinkFigures, downloadLinkReport, type DownloadLinkFigures } from './download-link.js';
import { enclaveReport, measureEnclave, type EnclaveResult } from './enclave.js';
import { timeJupyterAlone } from './jupyter-alone.js';
import { machineFacts } from './machine.js';
import { openToAnswering, stopUntilStopped, type OpenTiming } from './open.js';
import { countOperationsPerRequest } from './operations.js';
import { gateFigures, humanReport, machineHeader, overhead, type BenchFigures } from './report.js';
import { round1, summarize } from './stats.js';

function setting(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`Invalid setting ${name}: must be an integer ≥ ${min}`);
  return value;
}

const SAMPLES = setting('BENCH_SAMPLES', 5, 5);
const TIME_LIMIT_SECONDS = setting('BENCH_TIME_LIMIT_SECONDS', 300, 30);
/** Between two polls of anything (desk status, gate, Jupyter alone): the same for every figure. */
const POLL_MS = 25;
const STEP_TIMEOUT_MS = 60_000;
const OPERATION_REQUESTS = 20;
const GATE_SECONDS = 3;
const GATE_CONNECTIONS = 10;
const ANALYSIS_ID = 'bench';

const progress = (message: string) => process.stderr.write(`[bench] ${message}\n`);
const cleanups = new Cleanups();

/** The runtime with one analysis whose members bench0..benchN each get a fresh (cold) workspace. */
async function startRuntime(): Promise<{ t: TestRuntime; close: () => Promise<void> }> {
  // Gates report activity rarely here, so nothing but the counted requests reaches DynamoDB in figure 3.
  const t = await startTestRuntime({ CARREL_GATE_REPORT_SECONDS: '600' });
  const forget = cleanups.add(() => t.close());
  const close = async () => {
    forget();
    await t.close();
  };
  const members = Array.from({ length: SAMPLES + 1 }, (_, i) => `bench${i}`);
  const catalog = t.runtime.deps.catalog;
  if (!(catalog instanceof DynamoAnalysisCatalog)) throw new Error('the local runtime no longer uses the DynamoDB catalog: seed the bench analysis another way');
  await catalog.putAnalysis({ analysisId: ANALYSIS_ID, title: 'Benchmark', members, tool: 'jupyter', size: 'small' });
  for (const userId of members) await catalog.putUser({ userId, name: `Bench ${userId}`, roles: ['researcher'] });
  return { t, close };
}

async function measureOpens(t: TestRuntime) {
  const jupyter = loadLocalConfig({}).CARREL_JUPYTER_COMMAND; // what startTestRuntime's compute runs
  const poll = { pollMs: POLL_MS, timeoutMs: STEP_TIMEOUT_MS };
  const rounds: { alone: number; cold: OpenTiming; warm: OpenTiming; stops: number[] }[] = [];
  let lastJar;
  // Round 0 warms up (first process starts, JIT, disk cache) and is not counted.
  for (let round = 0; round <= SAMPLES; round++) {
    const alone = await timeJupyterAlone(jupyter, cleanups, poll);
    const jar = await signIn(t, `bench${round}`);
    const cold = await openToAnswering(t, jar, ANALYSIS_ID, poll);
    if (cold.resumed) throw new Error(`bench${round}'s first open was a resume, not a cold launch`);
    const stop = await stopUntilStopped(t, jar, ANALYSIS_ID, poll);
    const warm = await openToAnswering(t, jar, ANALYSIS_ID, poll);
    if (!warm.resumed) throw new Error(`bench${round}'s second open was not a resume`);
    // Keep one workspace ready (the last) for the operation count; stop the others to keep the machine quiet.
    const stops = [stop];
    if (round < SAMPLES) stops.push(await stopUntilStopped(t, jar, ANALYSIS_ID, poll));
    lastJar = jar;
    progress(
      `${round === 0 ? 'warm-up' : `round ${round}/${SAMPLES}`}: Jupyter alone ${round1(alone)} ms, cold open ${round1(cold.answeringMs)} ms, warm resume ${round1(warm.answeringMs)} ms`,
    );
    if (round > 0) rounds.push({ alone, cold, warm, stops });
  }
  const jupyterAlone = summarize(rounds.map((r) => r.alone));
  const cold = summarize(rounds.map((r) => r.cold.answeringMs));
  const warm = summarize(rounds.map((r) => r.warm.answeringMs));
  const perRound = rounds.map((r) => ({ alone: round1(r.alone), cold: round1(r.cold.answeringMs), warm: round1(r.warm.answeringMs) }));
  return {
    jar: lastJar!,
    figures: {
      samples: SAMPLES,
      pollMs: POLL_MS,
      jupyterAlone,
      cold,
      coldOpenCall: summarize(rounds.map((r) => r.cold.openCallMs)),
      coldUntilReady: summarize(rounds.map((r) => r.cold.readyMs)),
      warm,
      stop: summarize(rounds.flatMap((r) => r.stops)),
      overhead: overhead(jupyterAlone, cold, warm, perRound),
      rounds: perRound,
    },
  };
}

async function main(): Promise<BenchFigures & { readonly enclave: EnclaveResult; readonly downloadLink: DownloadLinkFigures; readonly aws: AwsFigures; readonly bundles: BundleFigures }> {
  const started = performance.now();
  const machine = machineFacts();
  process.stdout.write(machineHeader(machine));

  // Every temp folder of this run (built assets, the runtime's data, Jupyter's and the gate bench's folders)
  // goes under one scratch folder, removed last: the helpers reused here use os.tmpdir(), which reads TMPDIR.
  const scratch = await mkdtemp(join(tmpdir(), 'carrel-bench-'));
  process.env.TMPDIR = scratch;
  cleanups.add(() => rm(scratch, { recursive: true, force: true }));
  // Whatever this process started and is still alive at the end (e.g. after an abort mid-figure).
  cleanups.add(async () => killGroups(await childProcessIds()));

  progress(`starting the local runtime; ${SAMPLES} rounds of Jupyter alone, cold open, warm resume`);
  const { t, close } = await startRuntime();
  const opens = await measureOpens(t);

  progress(`counting DynamoDB operations (${OPERATION_REQUESTS} polls, ${OPERATION_REQUESTS} heartbeats, one open, one housekeeping pass)`);
  const operations = await countOperationsPerRequest(t, opens.jar, ANALYSIS_ID, OPERATION_REQUESTS);

  progress(`enclave: ${SAMPLES} runs through the desk API (submit, approve code, approve outputs)`);
  const enclave = await measureEnclave(t, SAMPLES, { pollMs: POLL_MS, timeoutMs: STEP_TIMEOUT_MS, progress });

  progress('enclave: the AWS download link of a 5 GiB outputs archive, before and after pinning (modeled)');
  const downloadLink = await downloadLinkFigures();

  progress('closing the runtime (terminating its workspaces)');
  await close(); // figure 2 runs on a quiet loopback

  progress(`gate vs direct: ${GATE_CONNECTIONS} connections, ${GATE_SECONDS} s each`);
  const gate = gateFigures(GATE_SECONDS, GATE_CONNECTIONS, await benchGate({ seconds: GATE_SECONDS, connections: GATE_CONNECTIONS }));

  const aws = await awsModel(progress);

  progress('bundling every Lambda entry point as CDK does');
  const bundles = await bundleFigures(progress);

  return {
    machine,
    loadAverageAfter: machineFacts().loadAverage,
    durationSeconds: round1((performance.now() - started) / 1000),
    open: opens.figures,
    gate,
    dynamodb: { requestsPerPattern: OPERATION_REQUESTS, ...operations },
    enclave,
    downloadLink,
    aws,
    bundles,
  };
}

function finish(code: number, output = ''): void {
  process.stdout.write(output, () => process.exit(code));
}

let aborting = false;
async function abort(why: string, code: number): Promise<void> {
  progress(`${why}${aborting ? '' : '; cleaning up'}`);
  if (aborting) return; // the first abort cleans up and exits
  aborting = true;
  await Promise.race([cleanups.run(progress), new Promise((resolve) => setTimeout(resolve, 30_000).unref())]);
  finish(code);
}

const watchdog = setTimeout(() => void abort(`time limit of ${TIME_LIMIT_SECONDS} s reached`, 1), TIME_LIMIT_SECONDS * 1000);
watchdog.unref();
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void abort(`${signal} received`, 130));

main().then(
  async (figures) => {
    clearTimeout(watchdog);
    await cleanups.run(progress);
    finish(0, `${humanReport(figures)}${enclaveReport(figures.enclave)}${downloadLinkReport(figures.downloadLink)}${awsReport(figures.aws)}${bundleReport(figures.bundles)}\n${JSON.stringify(figures)}\n`);
  },
  async (error: unknown) => {
    clearTimeout(watchdog);
    if (aborting) return; // failing because an abort is tearing things down under it
    progress(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    await abort('benchmark failed', 1);
  },
);
