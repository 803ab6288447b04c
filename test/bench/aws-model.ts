/**
 * Figure 4 of `npm run bench`: the AWS open→ready critical path as a model, and AWS API calls per
 * workspace-hour while ready (issue 4, "Figures to print").
 *
 * No AWS account and no network beyond loopback: the real handlers, use cases and AWS adapters run against
 * SDK clients mocked with aws-sdk-client-mock (aws-world.ts) and the real DynamoDB store on dynalite; each
 * call is laid out in modeled time with the per-call latencies and documented waits of aws-latencies.ts
 * (aws-timeline.ts). Deterministic: the same code and table give the same figures.
 *
 * `npx tsx test/bench/aws-model.ts` prints this section alone; `--latency-table` prints the latency table
 * as Markdown (the copy in docs/aws-latency-model.md).
 */
import { readFile } from 'node:fs/promises';
import type { TaskDefinition } from '@aws-sdk/client-ecs';
import { DynamoWorkspaceStore } from '../../lambdas/adapters/aws/dynamo-store.js';
import { DEFAULT_ESTIMATES } from '../../lambdas/core/index.js';
import { PROGRESS_POLL_MS } from '../../frontend/src/logic/poll.js';
import { startDynalite } from '../../local/dynamodb.js';
import { TestIdp } from '../handlers/support.js';
import { hourlyFigures, type CallCounts, type HourlyFigures } from './aws-hourly.js';
import { latencyTableMarkdown, WAITS } from './aws-latencies.js';
import { BASE_TASK_DEFINITION_ARN, Deployment, DESK_DOMAIN, FILE_SYSTEM_ID, HOSTED_ZONE_ID, KeptLog, provisionAssets, seedDeployment } from './aws-containers.js';
import { ec2Cold, ec2PoolResume, ec2WarmResume, fargateOpen, type PathRun } from './aws-paths.js';
import type { Step } from './aws-timeline.js';
import { ModelWorld } from './aws-world.js';
import { table } from './stats.js';

export interface ModelStep {
  readonly at: number;
  readonly end: number;
  readonly seconds: number;
  readonly step: string;
  readonly kind: 'call' | 'wait';
  readonly service?: string;
  readonly operation?: string;
  readonly actor: string;
  readonly browserWaits: boolean;
  /** On the critical path (the chain of steps the total waited for). */
  readonly critical: boolean;
  /** On the way to ready as the browser sees it, or on the DNS propagation branch (what the report lists). */
  readonly mainLine: boolean;
  readonly basis: string;
}

export interface PathFigures {
  readonly name: string;
  readonly targetSeconds: number;
  readonly totalSeconds: number;
  readonly pass: boolean;
  /** When the last state change (ready) was written, the page showed it, and the hostname was INSYNC. */
  readonly readyAt: number;
  readonly seenAt: number;
  readonly inSyncAt: number;
  /** The longest step on the critical path. */
  readonly dominant: { readonly step: string; readonly seconds: number; readonly share: number };
  /** Critical-path seconds by who is at work (EC2, the workspace over SSH, Route 53, Lambda, ...). */
  readonly secondsByActor: Readonly<Record<string, number>>;
  /** What-ifs on the same trace: Route 53 at its 60 s design bound; the DNS wait off the critical path. */
  readonly totalWithInSync60: number;
  readonly totalWithoutDnsWait: number;
  /** AWS calls made on the way (all, and those on the critical path), by `Service Operation`. */
  readonly calls: CallCounts;
  readonly criticalCalls: CallCounts;
  readonly steps: readonly ModelStep[];
  /** Status polls the page makes between the open answer and the poll that shows ready (each one DynamoDB GetItem). */
  readonly progressPolls: number;
  readonly notes: readonly string[];
}

export interface AwsFigures {
  readonly model: 'AWS open→ready critical path, modeled (no AWS account: real code, mocked SDK clients, documented latencies)';
  readonly paths: readonly PathFigures[];
  readonly hourly: HourlyFigures;
  readonly progressEstimateSeconds: number;
  readonly latencyDocInSync: boolean;
  /** Warnings and errors the real code logged while the model ran (none expected). */
  readonly problems: readonly string[];
  readonly durationSeconds: number;
}

const r2 = (n: number) => Math.round(n * 100) / 100;
const r3 = (n: number) => Math.round(n * 1000) / 1000;

/** The deployment's base workspace task definition as DescribeTaskDefinition shows it (containers tool, gate, ready; volume home). */
export function baseTaskDefinition(): TaskDefinition & { taskDefinitionArn: string } {
  return {
    taskDefinitionArn: BASE_TASK_DEFINITION_ARN,
    family: 'carrel-prod-workspace',
    revision: 7,
    status: 'ACTIVE',
    taskRoleArn: 'arn:aws:iam::123456789012:role/carrel-prod-workspace-task',
    executionRoleArn: 'arn:aws:iam::123456789012:role/carrel-prod-workspace-execution',
    networkMode: 'awsvpc',
    requiresCompatibilities: ['FARGATE'],
    compatibilities: ['EC2', 'FARGATE'],
    cpu: '1024',
    memory: '4096',
    runtimePlatform: { cpuArchitecture: 'ARM64', operatingSystemFamily: 'LINUX' },
    containerDefinitions: [
      { name: 'tool', image: '123456789012.dkr.ecr.eu-west-2.amazonaws.com/carrel-tool:1', essential: true, mountPoints: [{ sourceVolume: 'home', containerPath: '/home/researcher' }] },
      {
        name: 'gate',
        image: '123456789012.dkr.ecr.eu-west-2.amazonaws.com/carrel-gate:1',
        essential: true,
        portMappings: [{ containerPort: 443, protocol: 'tcp' }],
        healthCheck: { command: ['CMD', 'node', '-e', '…/__carrel/health…'], interval: 10, timeout: 5, retries: 3, startPeriod: 60 },
      },
      { name: 'ready', image: '123456789012.dkr.ecr.eu-west-2.amazonaws.com/carrel-gate:1', essential: false, command: ['true'], dependsOn: [{ containerName: 'gate', condition: 'HEALTHY' }] },
    ],
    volumes: [{ name: 'home', efsVolumeConfiguration: { fileSystemId: FILE_SYSTEM_ID, transitEncryption: 'ENABLED', authorizationConfig: { iam: 'ENABLED' } } }, { name: 'gate-tmp' }],
  };
}

function counts(steps: readonly Step[]): CallCounts {
  const byService: Record<string, number> = {};
  const byOperation: Record<string, number> = {};
  let total = 0;
  for (const s of steps) {
    if (s.kind !== 'call' || !s.service) continue;
    byService[s.service] = (byService[s.service] ?? 0) + 1;
    byOperation[s.label] = (byOperation[s.label] ?? 0) + 1;
    total++;
  }
  return { byService, byOperation, total };
}

function pathFigures(run: PathRun): PathFigures {
  const critical = run.timeline.criticalPath(run.final);
  const onPath = new Set(critical.map((s) => s.id));
  const toSeen = run.timeline.criticalPath(run.seen);
  const mainLine = new Set([...toSeen, ...(run.propagated ? run.timeline.criticalPath(run.propagated) : []), run.final].map((s) => s.id));
  const readyWrite = [...toSeen].reverse().find((s) => s.operation === 'PutItem' && s.actor !== 'status');
  const total = run.final.end;
  const toolLoad = WAITS.browserToolLoad.seconds;
  const longest = critical.reduce((a, b) => (b.end - b.start > a.end - a.start ? b : a));
  const byActor: Record<string, number> = {};
  for (const s of critical) byActor[s.actor] = r2((byActor[s.actor] ?? 0) + (s.end - s.start));
  const steps: ModelStep[] = [...run.timeline.steps]
    .sort((a, b) => a.start - b.start || a.id - b.id)
    .map((s) => ({
      at: r3(s.start),
      end: r3(s.end),
      seconds: r3(s.end - s.start),
      step: s.label,
      kind: s.kind,
      ...(s.service ? { service: s.service, operation: s.operation } : {}),
      actor: s.actor,
      browserWaits: s.browserWaits,
      critical: onPath.has(s.id),
      mainLine: mainLine.has(s.id),
      basis: s.basis,
    }));
  return {
    name: run.name,
    targetSeconds: run.targetSeconds,
    totalSeconds: r2(total),
    pass: total <= run.targetSeconds,
    readyAt: r2(readyWrite?.end ?? Number.NaN),
    seenAt: r2(run.seen.end),
    inSyncAt: run.propagated ? r2(run.propagated.end) : Number.NaN,
    dominant: { step: longest.label, seconds: r2(longest.end - longest.start), share: r2((longest.end - longest.start) / total) },
    secondsByActor: byActor,
    totalWithInSync60: r2(Math.max(run.seen.end, run.published ? run.published.end + 60 : 0) + toolLoad),
    totalWithoutDnsWait: r2(run.seen.end + toolLoad),
    calls: counts(run.timeline.steps),
    criticalCalls: counts(critical),
    steps,
    progressPolls: Math.max(0, Math.floor((run.seen.start - run.openAnswered.end) / (PROGRESS_POLL_MS / 1000 + WAITS.browserRoundTrip.seconds + WAITS.lambdaWarm.seconds))),
    notes: run.notes,
  };
}

/** Runs the model; `progress` gets one line per stage. */
export async function awsModel(progress: (message: string) => void = () => {}): Promise<AwsFigures> {
  const started = performance.now();
  const dynamo = await startDynalite();
  const world = new ModelWorld(DESK_DOMAIN, HOSTED_ZONE_ID, baseTaskDefinition());
  let detach = world.attachDynamo(dynamo.doc);
  const log = new KeptLog();
  try {
    const idp = await TestIdp.create();
    const table = { doc: dynamo.doc, tableName: dynamo.tableName };
    const ec2 = new Deployment('ec2', world, table, idp, log);
    const fargate = new Deployment('fargate', world, table, idp, log);
    const pooled = new Deployment('ec2', world, table, idp, log, { WARM_POOL: JSON.stringify({ small: 1 }) });
    const alice = { userId: 'alice', analysisId: 'ec2-study' };
    const carol = { userId: 'carol', analysisId: 'fargate-study' };
    const dave = { userId: 'dave', analysisId: 'pool-study' };
    await world.offTheRecord(async () => {
      await seedDeployment(ec2, [{ analysisId: alice.analysisId, members: [alice.userId] }]);
      await seedDeployment(fargate, [{ analysisId: carol.analysisId, members: [carol.userId] }]);
      await seedDeployment(pooled, [{ analysisId: dave.analysisId, members: [dave.userId] }]);
    });
    const assets = await provisionAssets();

    progress('AWS model: EC2 cold open, EC2 warm resume (stopped instance; warm pool), Fargate open (real handlers, mocked SDK clients, dynalite)');
    const runs = [await ec2Cold(ec2, assets, alice), await ec2WarmResume(ec2, assets, alice), await fargateOpen(fargate, carol)];

    progress('AWS model: calls per workspace-hour while ready (polls, heartbeats, gate reports, housekeeping for 10 and 100 workspaces)');
    const ready = await world.offTheRecord(() => new DynamoWorkspaceStore(dynamo.doc, dynamo.tableName).get(alice));
    if (ready?.state !== 'ready') throw new Error(`the EC2 workspace is not ready after the resume (state ${ready?.state})`);
    const hourly = await hourlyFigures({
      deployment: ec2,
      idp,
      readyWorkspace: ready,
      dynamo,
      fleetSizes: [10, 100],
      baseDefinition: baseTaskDefinition(),
      beforeHousekeeping: () => {
        detach();
        detach = () => {};
      },
    });
    // Last: its housekeeping passes and hours of modeled time act on the whole (shared) table.
    detach = world.attachDynamo(dynamo.doc);
    runs.splice(2, 0, await ec2PoolResume(pooled, assets, dave));
    const paths = runs.map(pathFigures);
    if (world.unanswered.length) log.problems.push(`calls the model had no answer for: ${world.unanswered.join(', ')}`);
    return {
      model: 'AWS open→ready critical path, modeled (no AWS account: real code, mocked SDK clients, documented latencies)',
      paths,
      hourly,
      progressEstimateSeconds: DEFAULT_ESTIMATES.reserving + DEFAULT_ESTIMATES.starting + DEFAULT_ESTIMATES.connecting,
      latencyDocInSync: await latencyDocInSync(),
      problems: log.problems,
      durationSeconds: r2((performance.now() - started) / 1000),
    };
  } finally {
    detach();
    world.restore();
    await dynamo.close();
  }
}

/** docs/aws-latency-model.md holds the table aws-latencies.ts prints. */
async function latencyDocInSync(): Promise<boolean> {
  try {
    const doc = await readFile(new URL('../../docs/aws-latency-model.md', import.meta.url), 'utf8');
    return doc.includes(latencyTableMarkdown().trim());
  } catch {
    return false;
  }
}

// ------------------------------------------------------------------------------------------- report

const s1 = (n: number) => n.toFixed(1);
const s2 = (n: number) => n.toFixed(2);
const s3 = (n: number) => n.toFixed(3);

function formatCounts(record: Readonly<Record<string, number>>): string {
  const entries = Object.entries(record).sort(([a], [b]) => a.localeCompare(b));
  return entries.length ? entries.map(([k, v]) => `${k} ${v}`).join(', ') : 'none';
}

/**
 * The main line (to ready as the page sees it) and the DNS branch, in time order; consecutive calls of the
 * same operation by the same actor merged (`DynamoDB GetItem ×2`); `*` marks the critical path.
 */
function mainLineRows(p: PathFigures): (string | number)[][] {
  const rows: { at: number; end: number; seconds: number; step: string; actor: string; browser: boolean; critical: boolean; n: number }[] = [];
  for (const s of p.steps.filter((x) => x.mainLine)) {
    const prev = rows.at(-1);
    if (prev && s.kind === 'call' && prev.step === s.step && prev.actor === s.actor && prev.critical === s.critical) {
      prev.end = s.end;
      prev.seconds = r3(prev.seconds + s.seconds);
      prev.n++;
      continue;
    }
    rows.push({ at: s.at, end: s.end, seconds: s.seconds, step: s.step, actor: s.actor, browser: s.browserWaits, critical: s.critical, n: 1 });
  }
  return rows.map((r) => [`${r.critical ? '*' : ' '} ${r.step}${r.n > 1 ? ` ×${r.n}` : ''}`, s2(r.at), s3(r.seconds), r.actor, r.browser ? 'waits' : '']);
}

export function awsReport(f: AwsFigures): string {
  const out: string[] = [
    `4. AWS open→ready, modeled: the real handlers, use cases and AWS adapters against mocked SDK clients (aws-sdk-client-mock) and dynalite;`,
    `   each AWS call × its latency, plus the documented waits (test/bench/aws-latencies.ts, docs/aws-latency-model.md${f.latencyDocInSync ? '' : ' — STALE: update it from `npx tsx test/bench/aws-model.ts --latency-table`'}).`,
    `   "browser" = a browser request is waiting on this step. Modeled seconds, not measured ones.`,
    '',
  ];
  for (const [i, p] of f.paths.entries()) {
    out.push(
      table(
        `4.${i + 1} ${p.name}  (* = critical path)`,
        ['step', 'at s', 'takes s', 'who', 'browser'],
        mainLineRows(p),
      ),
    );
    const verdict = p.pass ? 'PASS' : 'MISS';
    const dns = Number.isNaN(p.inSyncAt) ? 'hostname published and INSYNC before the click' : `hostname INSYNC at ${s1(p.inSyncAt)} s`;
    out.push(`   ready written at ${s1(p.readyAt)} s, shown by the page at ${s1(p.seenAt)} s, ${dns}`);
    out.push(`   total ${s1(p.totalSeconds)} s modeled; target ≤ ${p.targetSeconds} s: ${verdict}`);
    if (p.name.startsWith('Fargate')) {
      out.push(`   (Fargate keeps nothing of a stopped task: a resume is this same path, so against the resume target ≤ 20 s: ${p.totalSeconds <= 20 ? 'PASS' : 'MISS'})`);
    }
    out.push(`   dominant step: ${p.dominant.step} (${s1(p.dominant.seconds)} s, ${Math.round(p.dominant.share * 100)}% of the total)`);
    out.push(
      `   by who is at work on the critical path: ${Object.entries(p.secondsByActor)
        .sort(([, a], [, b]) => b - a)
        .map(([k, v]) => `${k} ${s1(v)} s`)
        .join(', ')}`,
    );
    out.push(`   what-ifs on the same trace: Route 53 INSYNC at its 60 s design bound → ${s1(p.totalWithInSync60)} s; no DNS wait on the path → ${s1(p.totalWithoutDnsWait)} s`);
    out.push(`   AWS calls on the way: ${p.calls.total} (${formatCounts(p.calls.byService)}); on the critical path: ${p.criticalCalls.total} (${formatCounts(p.criticalCalls.byOperation)})`);
    const offLine = p.steps.filter((s) => s.kind === 'call' && !s.mainLine).map((s) => `${s.step} (${s.actor}${s.browserWaits ? ', browser waits' : ''})`);
    if (offLine.length) out.push(`   calls beside the main line (concurrent with it, or after their result was no longer awaited): ${offLine.join('; ')}`);
    out.push(`   meanwhile the page polls status every ${PROGRESS_POLL_MS / 1000} s: ~${p.progressPolls} polls before the one that shows ready, one DynamoDB GetItem each (off the critical path)`);
    for (const note of p.notes) out.push(`   note: ${note}`);
    out.push('');
  }
  out.push(
    `   the progress page's estimate (core DEFAULT_ESTIMATES) adds up to ${f.progressEstimateSeconds} s; modeled: ${f.paths.map((p) => `${s1(p.totalSeconds)} s`).join(' / ')}`,
    '',
  );

  const h = f.hourly;
  const services = [...new Set([...h.rows, ...h.totals].flatMap((r) => Object.keys(r.perHour.byService)))].sort();
  out.push(
    table(
      `4.${f.paths.length + 1} AWS API calls per workspace-hour while ready (real handlers, one warm container per function; housekeeping every ${h.intervals.housekeepingSeconds} s shared by the fleet)`,
      ['pattern', 'requests/h', ...services, 'total/h'],
      h.rows.map((r) => [r.pattern, s2(r.invocationsPerHour), ...services.map((s) => s2(r.perHour.byService[s] ?? 0)), s2(r.perHour.total)]),
    ),
  );
  for (const r of h.rows) out.push(`   ${r.pattern}: ${r.note}; per hour: ${formatCounts(r.perHour.byOperation)}`);
  out.push('');
  out.push(
    table(
      '   one researcher\'s ready workspace-hour (polls + heartbeats + gate reports + share of housekeeping)',
      ['deployment', ...services, 'total/h'],
      h.totals.map((t) => [t.label, ...services.map((s) => s2(t.perHour.byService[s] ?? 0)), s2(t.perHour.total)]),
    ),
  );
  if (f.problems.length) out.push(`   the real code logged ${f.problems.length} warning(s)/error(s) during the model: ${f.problems.join(' | ')}`, '');
  out.push(`   the AWS model took ${s2(f.durationSeconds)} s`, '');
  return out.join('\n');
}


if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  if (process.argv.includes('--latency-table')) {
    process.stdout.write(latencyTableMarkdown());
  } else {
    awsModel((m) => process.stderr.write(`[aws-model] ${m}\n`)).then(
      (figures) => process.stdout.write(`${awsReport(figures)}${JSON.stringify(figures.paths.map((p) => ({ name: p.name, total: p.totalSeconds, pass: p.pass })))}\n`),
      (error: unknown) => {
        process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
        process.exitCode = 1;
      },
    );
  }
}
