/**
 * The three open→ready paths on AWS, each driven through the real entry points: the open and status HTTP
 * handlers (core's openWorkspace / getWorkspace), the compute-events handler fed EventBridge-shaped EC2 and
 * ECS events (compute-event-mapping.ts, then core's handleComputeEvent), and for EC2 the provisioner
 * handler fed the payload the open path's LambdaProvisioner actually sent. What happens between them
 * (boot, EventBridge, cold starts, image pulls, health checks, polls, DNS propagation) is a documented
 * wait (aws-latencies.ts) or an interval read from the code.
 *
 * The result of a path is its Timeline: every step in modeled seconds, and the critical path from the
 * researcher's click to the tool answering in the page.
 */
import type { EventOutcome } from '../../lambdas/core/index.js';
import { EC2_STATE_CHANGE, ECS_TASK_STATE_CHANGE } from '../../lambdas/adapters/aws/compute-event-mapping.js';
import { signIdentityRequest } from '../../assets/gate/bootstrap.js';
import { homeRoleName } from '../../lambdas/adapters/aws/iam-home-roles.js';
import { StsTaskIdentity } from '../../lambdas/adapters/aws/sts-task-identity.js';
import { FakeSts, taskCredentials } from '../support/fake-sts.js';
import { makeAgentBootstrapHandler, makeComputeEventsHandler, makeHousekeepingHandler, makeOpenHandler, makeStatusHandler, makeStopHandler, type AppDeps } from '../../lambdas/handlers/app.js';
import type { AwsDeps } from '../../lambdas/handlers/aws-wiring.js';
import type { HttpResult } from '../../lambdas/handlers/http.js';
import type { ProvisionAssets } from '../../lambdas/handlers/provision.js';
import { PROGRESS_POLL_MS } from '../../frontend/src/logic/poll.js';
import { httpEvent, ROUTES, sessionCookie } from '../handlers/support.js';
import { CONFIGURED, WAITS } from './aws-latencies.js';
import type { Deployment } from './aws-containers.js';
import { Timeline, type Step } from './aws-timeline.js';
import { ACCOUNT, REGION, type ModelWorld } from './aws-world.js';

export interface PathRun {
  readonly name: string;
  readonly targetSeconds: number;
  readonly timeline: Timeline;
  /** The tool answers in the page. */
  readonly final: Step;
  /** The open call's answer reached the browser (the page starts polling). */
  readonly openAnswered: Step;
  /** The status poll that showed ready reached the browser. */
  readonly seen: Step;
  /**
   * The Route 53 UPSERT of the workspace's hostname, and its propagation branch; absent when the hostname
   * was published (and had propagated) before the click (a warm-pool spare's).
   */
  readonly published?: Step;
  readonly propagated?: Step;
  readonly notes: readonly string[];
}

interface Researcher {
  readonly userId: string;
  readonly analysisId: string;
}

/** Lambda functions by name; a cold one gets a fresh container, a warm one reuses the last. */
class Functions {
  private readonly containers = new Map<string, AwsDeps>();
  constructor(private readonly deployment: Deployment) {}
  get(name: string, cold: boolean): AwsDeps {
    let deps = this.containers.get(name);
    if (cold || !deps) this.containers.set(name, (deps = this.deployment.container()));
    return deps;
  }
}

const half = WAITS.browserRoundTrip.seconds / 2;

/** Drives requests and events for one deployment on the model's timeline. */
class Driver {
  readonly functions: Functions;
  readonly world: ModelWorld;
  constructor(
    readonly deployment: Deployment,
    readonly assets: ProvisionAssets,
  ) {
    this.functions = new Functions(deployment);
    this.world = deployment.world;
  }

  get t(): Timeline {
    return this.world.timeline;
  }

  /** A desk HTTP request the browser waits on: network, Lambda start, the real handler, network back. */
  async request(
    route: keyof typeof ROUTES,
    who: Researcher,
    fn: string,
    cold: boolean,
    make: (deps: AppDeps) => (event: ReturnType<typeof httpEvent>) => Promise<HttpResult>,
  ): Promise<{ readonly body: any; readonly answered: Step }> {
    const { t } = this;
    t.act('browser', true);
    t.wait(`${ROUTES[route]}: request reaches the desk`, half, 'aws-latencies.ts WAITS.browserRoundTrip / 2');
    t.act(fn, true);
    if (cold) t.waitFor(`Lambda cold start (${fn})`, 'lambdaColdDesk', WAITS.lambdaColdDesk);
    else t.waitFor(`Lambda warm invocation (${fn})`, 'lambdaWarm', WAITS.lambdaWarm);
    const token = await this.deployment.idp.session(who.userId, { now: new Date(this.world.clockBase), claims: { exp: Math.floor(this.world.clockBase / 1000) + 7 * 86_400 } });
    const deps = this.functions.get(fn, cold);
    const result = await make(deps)(httpEvent(ROUTES[route], { cookies: [sessionCookie(token)], pathParameters: { analysisId: who.analysisId } }));
    t.act('browser', true);
    const answered = t.wait(`${ROUTES[route]}: answer reaches the browser`, half, 'aws-latencies.ts WAITS.browserRoundTrip / 2');
    if (result.statusCode !== 200) throw new Error(`${ROUTES[route]} answered ${result.statusCode}: ${result.body}`);
    return { body: JSON.parse(String(result.body)), answered };
  }

  /** EventBridge delivers `event` to the compute-events function after `from`. */
  async computeEvent(from: Step, label: string, event: Record<string, unknown>, cold: boolean): Promise<EventOutcome> {
    const { t } = this;
    t.resumeAfter(from);
    t.act('EventBridge', false);
    t.waitFor(`EventBridge delivers "${label}"`, 'eventBridgeDelivery', WAITS.eventBridgeDelivery);
    t.act('compute-events', false);
    if (cold) t.waitFor('Lambda cold start (compute-events)', 'lambdaColdDesk', WAITS.lambdaColdDesk);
    else t.waitFor('Lambda warm invocation (compute-events)', 'lambdaWarm', WAITS.lambdaWarm);
    const outcome = await makeComputeEventsHandler(this.functions.get('compute-events', cold))(event);
    if (!outcome.applied) throw new Error(`the "${label}" event was not applied: ${JSON.stringify(outcome)}`);
    return outcome;
  }

  /**
   * The Fargate bootstrap step after `from`: it signs GetCallerIdentity with the task's role and asks the desk
   * (a cold agent-bootstrap function, the real handler; STS answers through the model) for its settings.
   */
  async bootstrap(from: Step, who: Researcher, taskArn: string): Promise<Step> {
    const { t, world } = this;
    const { config } = this.deployment;
    const clock = () => new Date(world.clockBase + t.now() * 1000);
    t.resumeAfter(from);
    t.act('bootstrap', false);
    t.waitFor('the bootstrap step starts, reads the task role credentials and signs GetCallerIdentity', 'fargateBootstrapStart', WAITS.fargateBootstrapStart);
    const task = taskCredentials(1, `arn:aws:sts::${ACCOUNT}:assumed-role/${homeRoleName(config.deploymentId, who)}/${taskArn.split('/').pop()}`);
    const sts = new FakeSts(REGION).add(task);
    const proof = await signIdentityRequest({ stsUrl: new URL(`https://sts.${REGION}.amazonaws.com/`), stsRegion: REGION, serverId: config.deskDomain }, async () => task, clock());
    t.waitFor('POST /api/agent/bootstrap: request reaches the desk', 'taskToDesk', WAITS.taskToDesk);
    t.act('agent-bootstrap', false);
    t.waitFor('Lambda cold start (agent-bootstrap)', 'lambdaColdDesk', WAITS.lambdaColdDesk);
    const clusterArn = config.workspaces.compute?.kind === 'fargate' ? config.workspaces.compute.clusterArn : '';
    const taskIdentity = new StsTaskIdentity({
      deploymentId: config.deploymentId,
      clusterArn,
      serverId: config.deskDomain,
      now: clock,
      fetch: ((url: string, init?: RequestInit) => world.timeline.call('STS', 'GetCallerIdentity', () => sts.fetch(url, init))) as typeof fetch,
    });
    // A cold container of its own, with the model's STS (spreading builds its lazy adapters: harmless here).
    const deps = { ...this.functions.get('agent-bootstrap', true), taskIdentity };
    const result = await makeAgentBootstrapHandler(deps)(httpEvent('POST /api/agent/bootstrap', { body: { request: proof } }));
    if (result.statusCode !== 200) throw new Error(`the bootstrap route answered ${result.statusCode}: ${result.body}`);
    t.act('bootstrap', false);
    return t.waitFor('the answer reaches the task; the settings and the tool token are written', 'taskToDesk', WAITS.taskToDesk);
  }

  /** The asynchronous provisioner invocation the running event made, run to its report. */
  async provision(): Promise<void> {
    const { t } = this;
    const invocation = this.world.takeInvocation();
    t.act('Lambda', false);
    t.waitFor('Lambda starts the queued asynchronous invocation', 'lambdaAsyncQueue', WAITS.lambdaAsyncQueue);
    t.act('provision', false);
    t.waitFor('Lambda cold start (provisioner, in the VPC)', 'lambdaColdProvisioner', WAITS.lambdaColdProvisioner);
    const outcome = await this.deployment.provisioner(this.assets)(invocation.payload);
    if (outcome.outcome !== 'ready') throw new Error(`provisioning did not make the workspace ready: ${JSON.stringify(outcome)}`);
  }

  /**
   * The page polls status every PROGRESS_POLL_MS while starting: the poll after `ready` (half an interval
   * later, in expectation) shows ready and sets the gate cookie; the tool loads once its hostname resolves
   * everywhere (Route 53 INSYNC).
   */
  async seeReady(who: Researcher, published: Step | undefined): Promise<{ seen: Step; propagated?: Step; final: Step }> {
    const { t } = this;
    t.act('browser', false);
    t.wait('the page\'s next status poll (every 1 s while starting: half an interval, expected)', PROGRESS_POLL_MS / 2000, 'frontend/src/logic/poll.ts PROGRESS_POLL_MS / 2');
    const status = await this.request('status', who, 'status', false, makeStatusHandler);
    if (status.body.state !== 'ready' || !status.body.url) throw new Error(`the status poll after ready answered ${JSON.stringify(status.body).slice(0, 300)}`);
    const propagated = published
      ? t.branch(published, 'Route 53 propagates the new ws-… record to every authoritative server (INSYNC)', WAITS.route53InSync.seconds, 'aws-latencies.ts WAITS.route53InSync', 'Route 53')
      : undefined;
    if (propagated) t.join(status.answered, propagated);
    t.act('browser', true);
    const final = t.waitFor('the page loads the tool: DNS lookup, TLS to the gate, Jupyter\'s first page', 'browserToolLoad', WAITS.browserToolLoad);
    return { seen: status.answered, propagated, final };
  }

  lastStep(operation: string, since = 0): Step {
    const step = [...this.t.steps].reverse().find((s) => s.operation === operation && s.id > since);
    if (!step) throw new Error(`the model expected an AWS ${operation} call, and the code made none`);
    return step;
  }
}

function ec2Event(instanceId: string, stateName: string, at: Date): Record<string, unknown> {
  return {
    version: '0',
    id: `ec2-${instanceId}-${stateName}`,
    'detail-type': EC2_STATE_CHANGE,
    source: 'aws.ec2',
    account: ACCOUNT,
    time: at.toISOString(),
    region: REGION,
    resources: [`arn:aws:ec2:${REGION}:${ACCOUNT}:instance/${instanceId}`],
    detail: { 'instance-id': instanceId, state: stateName },
  };
}

function ecsEvent(world: ModelWorld, taskArn: string, at: Date, containers: readonly Record<string, unknown>[]): Record<string, unknown> {
  const task = world.tasks.get(taskArn);
  if (!task) throw new Error(`no modeled task ${taskArn}`);
  const shape = world.taskShape(task, false);
  return {
    version: '0',
    id: `ecs-${taskArn.split('/').pop()}-${at.getTime()}`,
    'detail-type': ECS_TASK_STATE_CHANGE,
    source: 'aws.ecs',
    account: ACCOUNT,
    time: at.toISOString(),
    region: REGION,
    resources: [taskArn],
    detail: {
      ...shape,
      attachments: shape.attachments?.map((a) => ({ ...a, type: 'eni' })),
      containers: containers.map((c) => ({ taskArn, ...c })),
      createdAt: at.toISOString(),
      updatedAt: at.toISOString(),
      version: 3,
    },
  };
}

/** EC2, first open of a home: RunInstances from the image, boot, hostname, provisioning (first run). */
export async function ec2Cold(deployment: Deployment, assets: ProvisionAssets, who: Researcher): Promise<PathRun> {
  const driver = new Driver(deployment, assets);
  const world = deployment.world;
  world.timeline = new Timeline();
  const t = world.timeline;

  const { answered: openAnswered } = await driver.request('open', who, 'open', true, makeOpenHandler);
  const launched = driver.lastStep('RunInstances');
  const instance = [...world.instances.values()].at(-1)!;
  const running = t.branch(launched, 'EC2: instance pending → running (new instance from the image)', WAITS.ec2PendingToRunning.seconds, 'aws-latencies.ts WAITS.ec2PendingToRunning', 'EC2');
  world.setInstanceState(instance.instanceId, 'running');
  const before = t.steps.length;
  await driver.computeEvent(running, 'EC2 Instance State-change Notification (running)', ec2Event(instance.instanceId, 'running', world.clock.now()), true);
  const published = driver.lastStep('ChangeResourceRecordSets', before);
  await driver.provision();
  const { seen, propagated, final } = await driver.seeReady(who, published);
  return {
    name: 'EC2 cold (RunInstances from the image + first provisioning)',
    targetSeconds: 60,
    timeline: t,
    final,
    openAnswered,
    seen,
    published,
    propagated,
    notes: [`the instance printed its host keys ${round(instance.keysAt! - launched.end)} s after RunInstances returned (boot of a fresh volume)`],
  };
}

/** EC2, resume of a stopped workspace: StartInstances, boot, new hostname, provisioning re-run. */
export async function ec2WarmResume(deployment: Deployment, assets: ProvisionAssets, who: Researcher): Promise<PathRun> {
  const driver = new Driver(deployment, assets);
  const world = deployment.world;
  const instance = [...world.instances.values()].at(-1)!;

  // Off the record: the researcher stopped the workspace an hour ago; EC2 reported it stopped.
  world.clockBase += 3_600_000;
  await world.offTheRecord(async () => {
    await driver.request('stop', who, 'stop', true, makeStopHandler);
    world.setInstanceState(instance.instanceId, 'stopped');
    await makeComputeEventsHandler(deployment.container())(ec2Event(instance.instanceId, 'stopped', world.clock.now()));
  });
  world.clockBase += 3_600_000;
  world.timeline = new Timeline();
  const t = world.timeline;

  const { answered: openAnswered } = await driver.request('open', who, 'open', true, makeOpenHandler);
  const started = driver.lastStep('StartInstances');
  const running = t.branch(started, 'EC2: stopped instance pending → running', WAITS.ec2PendingToRunning.seconds, 'aws-latencies.ts WAITS.ec2PendingToRunning', 'EC2');
  world.setInstanceState(instance.instanceId, 'running');
  const before = t.steps.length;
  await driver.computeEvent(running, 'EC2 Instance State-change Notification (running)', ec2Event(instance.instanceId, 'running', world.clock.now()), true);
  const published = driver.lastStep('ChangeResourceRecordSets', before);
  await driver.provision();
  const { seen, propagated, final } = await driver.seeReady(who, published);
  return {
    name: 'EC2 warm resume (StartInstances of the stopped instance + provisioning re-run)',
    targetSeconds: 20,
    timeline: t,
    final,
    openAnswered,
    seen,
    published,
    propagated,
    notes: [`the instance printed its host keys ${round(instance.keysAt! - started.end)} s after StartInstances returned`],
  };
}

/**
 * EC2 with a warm pool, resume of a stopped workspace: the open takes a spare that has been running with its
 * hostname published (and propagated) for minutes; the provisioner mounts the home and starts the tool.
 * The same path serves a first open when a spare is there.
 */
export async function ec2PoolResume(deployment: Deployment, assets: ProvisionAssets, who: Researcher): Promise<PathRun> {
  const driver = new Driver(deployment, assets);
  const world = deployment.world;
  const housekeeping = async () => {
    const report = await makeHousekeepingHandler(deployment.container())();
    if (report.errors.length) throw new Error(`housekeeping reported ${report.errors.join('; ')}`);
    return report;
  };

  // Off the record: yesterday the researcher worked on a spare, and stopped; the pool launched a new spare,
  // which booted and published its hostname long before today's click.
  await world.offTheRecord(async () => {
    await housekeeping();
    const first = await spareUp(driver, deployment);
    const opened = await driver.request('open', who, 'open', true, makeOpenHandler);
    if (opened.body.state !== 'provisioning') throw new Error(`the first open did not take the spare (state ${opened.body.state})`);
    await driver.provision();
    world.clockBase += 3_600_000;
    await driver.request('stop', who, 'stop', true, makeStopHandler);
    world.setInstanceState(first, 'stopped');
    await makeComputeEventsHandler(deployment.container())(ec2Event(first, 'stopped', world.clock.now()));
    await housekeeping();
    await spareUp(driver, deployment);
  });
  world.clockBase += 3_600_000;
  world.timeline = new Timeline();
  const t = world.timeline;

  const { answered: openAnswered, body } = await driver.request('open', who, 'open', true, makeOpenHandler);
  if (body.state !== 'provisioning') throw new Error(`the resume did not take the spare (state ${body.state})`);
  await driver.provision();
  const { seen, final } = await driver.seeReady(who, undefined);
  return {
    name: 'EC2 warm resume from the warm pool (a running spare with its hostname published takes the home)',
    targetSeconds: 20,
    timeline: t,
    final,
    openAnswered,
    seen,
    notes: [
      'the spare booted, printed its host keys and read its volume through (carrel-prewarm.service) while it waited; its hostname was published over a minute before the click',
      'the stopped instance of the previous session is terminated; the home is on EFS',
    ],
  };
}

/** The spare the last housekeeping pass launched comes up: EC2 reports it running and its hostname is published. */
async function spareUp(driver: Driver, deployment: Deployment): Promise<string> {
  const world = deployment.world;
  const spare = [...world.instances.values()].filter((i) => i.tags['carrel:spare'] && i.state === 'pending').at(-1);
  if (!spare) throw new Error('housekeeping launched no spare');
  world.settle(spare.instanceId);
  const outcome = await makeComputeEventsHandler(deployment.container())(ec2Event(spare.instanceId, 'running', world.clock.now()));
  if (!outcome.applied) throw new Error(`the spare's running event was not applied: ${JSON.stringify(outcome)}`);
  // Route 53 INSYNC and the pool's propagation wait pass before anyone takes it.
  world.clockBase += 120_000;
  return spare.instanceId;
}

/** Fargate, first open: home role and task definition, RunTask, image pull, EFS mount, bootstrap, gate health. */
export async function fargateOpen(deployment: Deployment, who: Researcher): Promise<PathRun> {
  const driver = new Driver(deployment, { script: '', gateBundle: '', template: [] });
  const world = deployment.world;
  world.timeline = new Timeline();
  const t = world.timeline;

  const { answered: openAnswered } = await driver.request('open', who, 'open', true, makeOpenHandler);
  const launched = driver.lastStep('RunTask');
  const task = [...world.tasks.values()].at(-1)!;
  const provisioning = t.branch(launched, 'Fargate PROVISIONING: capacity and the task\'s network interface (awsvpc)', WAITS.fargateProvisioning.seconds, 'aws-latencies.ts WAITS.fargateProvisioning', 'ECS');
  const pulled = t.branch(provisioning, 'Fargate PENDING: pull and unpack the tool and gate images (no image cache)', WAITS.fargateImagePull.seconds, 'aws-latencies.ts WAITS.fargateImagePull', 'ECS');
  const mounted = t.branch(pulled, 'EFS mount of the home (TLS, IAM, access point); the bootstrap container starts', WAITS.fargateMountAndStart.seconds, 'aws-latencies.ts WAITS.fargateMountAndStart', 'ECS');
  const bootstrapped = await driver.bootstrap(mounted, who, task.taskArn);
  const running = t.branch(bootstrapped, 'bootstrap exited 0: the gate and tool containers start → RUNNING', WAITS.fargateContainersStart.seconds, 'aws-latencies.ts WAITS.fargateContainersStart', 'ECS');
  task.lastStatus = 'RUNNING';

  const at = (step: Step) => new Date(world.clockBase + step.end * 1000);
  const before = t.steps.length;
  await driver.computeEvent(
    running,
    'ECS Task State Change (RUNNING)',
    ecsEvent(world, task.taskArn, at(running), [
      { name: 'tool', lastStatus: 'RUNNING' },
      { name: 'gate', lastStatus: 'RUNNING', healthStatus: 'UNKNOWN' },
      { name: 'ready', lastStatus: 'PENDING' },
    ]),
    true,
  );
  const published = driver.lastStep('ChangeResourceRecordSets', before);
  const provisioningDone = t.last()!;

  const interval = CONFIGURED.ecsHealthCheckIntervalSeconds.seconds;
  const firstHealthy = Math.max(1, Math.ceil(WAITS.jupyterStartFargate.seconds / interval)) * interval;
  const healthy = t.branch(
    running,
    `gate health check passes: Jupyter answers after ${WAITS.jupyterStartFargate.seconds} s, the first check runs ${interval} s after the container starts`,
    firstHealthy,
    'lib/constructs/workspace-compute.ts healthCheck interval; aws-latencies.ts WAITS.jupyterStartFargate',
    'ECS',
  );
  const readyExited = t.branch(healthy, 'the `ready` container (depends on gate HEALTHY) starts and exits 0', WAITS.ecsReadyContainer.seconds, 'aws-latencies.ts WAITS.ecsReadyContainer', 'ECS');
  const notes: string[] = [];
  if (readyExited.end + WAITS.eventBridgeDelivery.seconds < provisioningDone.end) {
    notes.push('the tool-ready event arrives before the running event was handled: core then publishes and readies in one step');
  }
  await driver.computeEvent(
    readyExited,
    'ECS Task State Change (container `ready` exited 0)',
    ecsEvent(world, task.taskArn, at(readyExited), [
      { name: 'tool', lastStatus: 'RUNNING' },
      { name: 'gate', lastStatus: 'RUNNING', healthStatus: 'HEALTHY' },
      { name: 'ready', lastStatus: 'STOPPED', exitCode: 0 },
    ]),
    false,
  );
  const { seen, propagated, final } = await driver.seeReady(who, published);
  return { name: 'Fargate (RunTask + image pull + EFS mount + bootstrap + gate health)', targetSeconds: 60, timeline: t, final, openAnswered, seen, published, propagated, notes };
}

export function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
