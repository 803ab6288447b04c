/**
 * AWS API calls per workspace-hour while it is ready, counted by running the real handlers against the
 * model's mocked clients and the dynalite-backed store for one simulated hour:
 *  - status polls every READY_POLL_MS (frontend/src/logic/poll.ts) from the open page;
 *  - heartbeats every `heartbeatSeconds` (the desk configuration) while the researcher is present;
 *  - gate activity reports every GATE_REPORT_SECONDS (the provisioner hands it to the gate) while there
 *    is traffic or a busy kernel;
 *  - housekeeping passes every minute (the CDK schedule), amortized over N ready workspaces, for EC2 and
 *    Fargate deployments (reconciliation lists the cloud and reads each owner's record).
 * Each desk function is one warm Lambda container for the hour (its caches, e.g. gate cookies, hold).
 */
import { createTable } from '../../lambdas/adapters/aws/create-table.js';
import { startedByFor } from '../../lambdas/adapters/aws/ecs-compute.js';
import { workspaceTags, type Workspace } from '../../lambdas/core/index.js';
import { agentTokenFor, makeAgentActivityHandler, makeHeartbeatHandler, makeHousekeepingHandler, makeStatusHandler } from '../../lambdas/handlers/app.js';
import type { HousekeepingReport } from '../../lambdas/core/index.js';
import { loadProvisionerConfig } from '../../lambdas/handlers/provision.js';
import { READY_POLL_MS } from '../../frontend/src/logic/poll.js';
import type { LocalDynamo } from '../../local/dynamodb.js';
import { httpEvent, ROUTES, sessionCookie, type TestIdp } from '../handlers/support.js';
import { makeWorkspace } from '../support/fakes.js';
import { CONFIGURED } from './aws-latencies.js';
import { BASE_TASK_DEFINITION_ARN, DEPLOYMENT_ID, DESK_DOMAIN, Deployment, HOSTED_ZONE_ID, KeptLog, provisionerEnvironment, type ComputeKind } from './aws-containers.js';
import { Timeline, type Step } from './aws-timeline.js';
import { ModelWorld } from './aws-world.js';

export interface CallCounts {
  /** Calls by service. */
  readonly byService: Readonly<Record<string, number>>;
  /** Calls by `Service Operation`. */
  readonly byOperation: Readonly<Record<string, number>>;
  readonly total: number;
}

export interface HourlyRow {
  readonly pattern: string;
  /** Desk requests or scheduled invocations per workspace-hour. */
  readonly invocationsPerHour: number;
  /** AWS calls per workspace-hour. */
  readonly perHour: CallCounts;
  readonly note: string;
}

export interface HourlyFigures {
  readonly intervals: {
    readonly readyPollSeconds: number;
    readonly heartbeatSeconds: number;
    readonly gateReportSeconds: number;
    readonly housekeepingSeconds: number;
  };
  readonly rows: readonly HourlyRow[];
  /** One researcher's workspace-hour: polls + heartbeats + reports + its share of housekeeping, per fleet size. */
  readonly totals: readonly { readonly label: string; readonly perHour: CallCounts }[];
}

function count(steps: readonly Step[], scale = 1): CallCounts {
  const byService: Record<string, number> = {};
  const byOperation: Record<string, number> = {};
  let total = 0;
  for (const step of steps) {
    if (step.kind !== 'call' || !step.service) continue;
    byService[step.service] = (byService[step.service] ?? 0) + 1;
    byOperation[step.label] = (byOperation[step.label] ?? 0) + 1;
    total++;
  }
  const scaled = (record: Record<string, number>) => Object.fromEntries(Object.entries(record).map(([k, v]) => [k, round2(v * scale)]));
  return { byService: scaled(byService), byOperation: scaled(byOperation), total: round2(total * scale) };
}

export function addCounts(...counts: readonly CallCounts[]): CallCounts {
  const sum = (pick: (c: CallCounts) => Readonly<Record<string, number>>) => {
    const out: Record<string, number> = {};
    for (const c of counts) for (const [k, v] of Object.entries(pick(c))) out[k] = round2((out[k] ?? 0) + v);
    return out;
  };
  return { byService: sum((c) => c.byService), byOperation: sum((c) => c.byOperation), total: round2(counts.reduce((s, c) => s + c.total, 0)) };
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

/**
 * One hour of a ready workspace (`ws`, already ready in `deployment`'s store): every poll, heartbeat and
 * gate report at its modeled time, each request on its own function's warm container.
 */
async function readyHour(deployment: Deployment, idp: TestIdp, ws: Workspace, hourStart: number) {
  const { world, config } = deployment;
  const readyPollSeconds = READY_POLL_MS / 1000;
  const heartbeatSeconds = config.heartbeatSeconds;
  const gateReportSeconds = loadProvisionerConfig(provisionerEnvironment()).settings.gateReportSeconds ?? 60;
  const status = makeStatusHandler(deployment.container());
  const heartbeat = makeHeartbeatHandler(deployment.container());
  const agent = makeAgentActivityHandler(deployment.container());

  world.clockBase = hourStart;
  const token = await world.offTheRecord(() => agentTokenFor(deployment.container(), ws));
  const session = await idp.session(ws.userId, { now: new Date(hourStart), claims: { exp: Math.floor(hourStart / 1000) + 7 * 86_400 } });
  const cookies = [sessionCookie(session)];
  const pathParameters = { analysisId: ws.analysisId };

  type Kind = 'poll' | 'heartbeat' | 'report';
  const events: { at: number; kind: Kind }[] = [];
  for (let at = 0; at < 3600; at += readyPollSeconds) events.push({ at, kind: 'poll' });
  for (let at = 0; at < 3600; at += heartbeatSeconds) events.push({ at, kind: 'heartbeat' });
  for (let at = gateReportSeconds / 2; at < 3600; at += gateReportSeconds) events.push({ at, kind: 'report' });
  events.sort((a, b) => a.at - b.at);

  const steps: Record<Kind, Step[]> = { poll: [], heartbeat: [], report: [] };
  const requests: Record<Kind, number> = { poll: 0, heartbeat: 0, report: 0 };
  for (const event of events) {
    world.clockBase = hourStart + event.at * 1000;
    world.timeline = new Timeline();
    let result;
    if (event.kind === 'poll') result = await status(httpEvent(ROUTES.status, { cookies, pathParameters }));
    else if (event.kind === 'heartbeat') result = await heartbeat(httpEvent(ROUTES.heartbeat, { cookies, pathParameters }));
    else result = await agent(httpEvent(ROUTES.agentActivity, { headers: { authorization: `Bearer ${token}` }, body: { traffic: true, busy: false } }));
    const expected = event.kind === 'report' ? 204 : 200;
    if (result.statusCode !== expected) throw new Error(`${event.kind} at ${event.at} s answered ${result.statusCode}: ${result.body}`);
    steps[event.kind].push(...world.timeline.steps);
    requests[event.kind]++;
  }
  return { readyPollSeconds, heartbeatSeconds, gateReportSeconds, steps, requests };
}

/**
 * One housekeeping pass with `n` ready, active workspaces in a fresh deployment of `kind`: the records in
 * dynalite (not due: their activity is recent), their instances or tasks and hostnames in the cloud.
 * Returns the calls of the pass; it must find nothing to do.
 */
async function housekeepingPass(kind: ComputeKind, n: number, dynamo: LocalDynamo, idp: TestIdp, baseDefinition: ConstructorParameters<typeof ModelWorld>[2]) {
  const world = new ModelWorld(DESK_DOMAIN, HOSTED_ZONE_ID, baseDefinition);
  const detach = world.attachDynamo(dynamo.doc);
  try {
    const tableName = `carrel-hk-${kind}-${n}`;
    await createTable(dynamo.client, tableName);
    const deployment = new Deployment(kind, world, { doc: dynamo.doc, tableName }, idp, new KeptLog());
    const store = deployment.container().store;
    const now = new Date(world.clockBase);
    await world.offTheRecord(async () => {
      for (let i = 0; i < n; i++) {
        const label = `ws-${i.toString(36).padStart(16, '0')}`;
        const userId = `researcher${i}`;
        const address = `10.1.${i >> 8}.${i & 255}`;
        const instanceId =
          kind === 'ec2' ? `i-0${i.toString(16).padStart(16, '0')}` : `arn:aws:ecs:eu-west-2:123456789012:task/carrel-prod/${i.toString(16).padStart(32, '0')}`;
        const ws = makeWorkspace(
          'ready',
          { analysisId: 'fleet', userId, workspaceId: `ws${i.toString(36).padStart(18, '0')}`, hostLabel: label, hostname: `${label}.${DESK_DOMAIN}`, instanceId, address: `${address}:443` },
          { at: now, policy: deployment.config.policy },
        );
        if (!(await store.put(ws, null))) throw new Error(`could not seed ${userId}`);
        const tags = workspaceTags(ws, DEPLOYMENT_ID);
        if (kind === 'ec2') {
          world.instances.set(instanceId, { instanceId, instanceType: 't4g.large', subnetId: 'subnet-0a1b2c3d4e5f60718', privateIp: address, clientToken: `${ws.workspaceId}-1.0`, state: 'running', tags, volumeWarm: true, fingerprints: [] });
        } else {
          world.tasks.set(instanceId, {
            taskArn: instanceId,
            taskDefinitionArn: BASE_TASK_DEFINITION_ARN,
            startedBy: startedByFor(DEPLOYMENT_ID),
            clientToken: `${ws.workspaceId}-1.0`,
            subnetId: 'subnet-0a1b2c3d4e5f60718',
            privateIp: address,
            eniId: `eni-0${i.toString(16).padStart(16, '0')}`,
            lastStatus: 'RUNNING',
            desiredStatus: 'RUNNING',
            tags: Object.entries(tags).map(([key, value]) => ({ key, value })),
          });
        }
        world.records.set(`${label}.${DESK_DOMAIN}.|A`, { Name: `${label}.${DESK_DOMAIN}.`, Type: 'A', TTL: 60, ResourceRecords: [{ Value: address }] });
      }
    });
    world.timeline = new Timeline();
    const report = (await makeHousekeepingHandler(deployment.container())()) as HousekeepingReport;
    const acted = report.examined + report.stoppedIdle.length + report.failedOverdue.length + report.terminated.length + report.orphanInstances.length + report.orphanHostnames.length + report.errors.length;
    if (acted) throw new Error(`the ${kind} housekeeping pass over ${n} active workspaces was meant to find nothing to do: ${JSON.stringify(report).slice(0, 400)}`);
    return world.timeline.steps.slice();
  } finally {
    detach();
    world.restore();
  }
}

export async function hourlyFigures(options: {
  readonly deployment: Deployment;
  readonly idp: TestIdp;
  readonly readyWorkspace: Workspace;
  readonly dynamo: LocalDynamo;
  readonly fleetSizes: readonly number[];
  readonly baseDefinition: ConstructorParameters<typeof ModelWorld>[2];
  /** Called between the ready hour (on `deployment`'s world) and the housekeeping passes (each on its own world). */
  readonly beforeHousekeeping: () => void;
}): Promise<HourlyFigures> {
  const { deployment, idp, readyWorkspace, dynamo, fleetSizes } = options;
  const hour = await readyHour(deployment, idp, readyWorkspace, deployment.world.clockBase + 3_600_000);
  const housekeepingSeconds = CONFIGURED.housekeepingRateSeconds.seconds;
  const passesPerHour = 3600 / housekeepingSeconds;

  const rows: HourlyRow[] = [
    {
      pattern: `status polls (every ${hour.readyPollSeconds} s while ready)`,
      invocationsPerHour: hour.requests.poll,
      perHour: count(hour.steps.poll),
      note: 'one GetItem each; the gate cookie is re-signed (KMS) only when less than half its life is left, after reading the analysis again (membership: one more GetItem)',
    },
    {
      pattern: `heartbeats (every ${hour.heartbeatSeconds} s while present)`,
      invocationsPerHour: hour.requests.heartbeat,
      perHour: count(hour.steps.heartbeat),
      note: 'one conditional UpdateItem each; re-signs the gate cookie like the poll, membership read included (its own container cache)',
    },
    {
      pattern: `gate activity reports (every ${hour.gateReportSeconds} s with traffic)`,
      invocationsPerHour: hour.requests.report,
      perHour: count(hour.steps.report),
      note: 'one conditional UpdateItem each; KMS GetPublicKey once per container (to verify agent tokens)',
    },
  ];
  const totals: { label: string; perHour: CallCounts }[] = [];
  const ready = addCounts(rows[0]!.perHour, rows[1]!.perHour, rows[2]!.perHour);
  options.beforeHousekeeping();
  for (const kind of ['ec2', 'fargate'] as const) {
    for (const n of fleetSizes) {
      const steps = await housekeepingPass(kind, n, dynamo, idp, options.baseDefinition);
      const perPass = count(steps);
      const row: HourlyRow = {
        pattern: `housekeeping (${kind === 'ec2' ? 'EC2' : 'Fargate'}, ${n} ready workspaces), share of ${passesPerHour} passes`,
        invocationsPerHour: round2(passesPerHour / n),
        perHour: count(steps, passesPerHour / n),
        note: `one pass: ${perPass.total} calls (${Object.entries(perPass.byOperation).map(([k, v]) => `${k} ${v}`).join(', ')})`,
      };
      rows.push(row);
      totals.push({ label: `${kind === 'ec2' ? 'EC2' : 'Fargate'}, ${n} workspaces`, perHour: addCounts(ready, row.perHour) });
    }
  }
  return {
    intervals: { readyPollSeconds: hour.readyPollSeconds, heartbeatSeconds: hour.heartbeatSeconds, gateReportSeconds: hour.gateReportSeconds, housekeepingSeconds },
    rows,
    totals,
  };
}
