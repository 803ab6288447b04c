import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { STOP_REASON, startedByFor } from '../../lambdas/adapters/aws/ecs-compute.js';
import type { InstanceFacts } from '../../lambdas/adapters/aws/compute-event-mapping.js';
import { TransientError, openWorkspace, type Workspace } from '../../lambdas/core/index.js';
import { makeComputeEventsHandler, makeHousekeepingHandler } from '../../lambdas/handlers/app.js';
import type { ComputeEventSources } from '../../lambdas/handlers/events.js';
import { DEPLOYMENT_ID, makeDeps, makeWorkspace, tagsOf, users } from '../support/fakes.js';

const INSTANCE = 'i-0a1b2c3d4e5f60718';
const TASK = 'arn:aws:ecs:eu-west-2:111122223333:task/carrel-test-workspaces/6f1e2d3c4b5a69788796a5b4c3d2e1f0';

/** An EventBridge EC2 state change, as EC2 sends it. */
function ec2Event(state: string, instanceId = INSTANCE) {
  return {
    version: '0',
    id: '7bf73129-1428-4cd3-a780-95db273d1602',
    'detail-type': 'EC2 Instance State-change Notification',
    source: 'aws.ec2',
    account: '111122223333',
    time: '2030-01-01T09:00:12Z',
    region: 'eu-west-2',
    resources: [`arn:aws:ec2:eu-west-2:111122223333:instance/${instanceId}`],
    detail: { 'instance-id': instanceId, state },
  };
}

/** An EventBridge ECS task state change for one of this deployment's workspace tasks (trimmed to what matters). */
function ecsEvent(lastStatus: string, containers: Record<string, unknown>[], extra: Record<string, unknown> = {}) {
  return {
    version: '0',
    id: '3317b2af-7005-947d-b652-f55e762e571a',
    'detail-type': 'ECS Task State Change',
    source: 'aws.ecs',
    account: '111122223333',
    time: '2030-01-01T09:00:31Z',
    region: 'eu-west-2',
    resources: [TASK],
    detail: {
      attachments: [
        {
          id: '1789bcae-ddfb-4d10-8ebe-8ac87ddba5b8',
          type: 'eni',
          status: 'ATTACHED',
          details: [
            { name: 'subnetId', value: 'subnet-0a1b2c3d4e5f60718' },
            { name: 'networkInterfaceId', value: 'eni-0f1e2d3c4b5a69788' },
            { name: 'privateIPv4Address', value: '10.0.12.34' },
          ],
        },
      ],
      clusterArn: 'arn:aws:ecs:eu-west-2:111122223333:cluster/carrel-test-workspaces',
      containers,
      desiredStatus: lastStatus === 'STOPPED' ? 'STOPPED' : 'RUNNING',
      lastStatus,
      launchType: 'FARGATE',
      startedBy: startedByFor(DEPLOYMENT_ID),
      taskArn: TASK,
      version: 3,
      ...extra,
    },
  };
}

const EC2_SOURCES = (lookup: (instanceId: string) => Promise<InstanceFacts | undefined>): ComputeEventSources => ({ ec2: { lookup } });
const ECS_SOURCES: ComputeEventSources = { ecs: { deploymentId: DEPLOYMENT_ID, gatePort: 443 } };

/** Fresh fakes plus the raw-event mapping the AWS wiring would give. */
function depsWith(computeEventSources: ComputeEventSources) {
  return { ...makeDeps(), computeEventSources };
}

/** A starting workspace whose launch returned `instanceId` (the record names it). */
function starting(instanceId: string): Workspace {
  return makeWorkspace('starting', { instanceId });
}

describe('compute-events handler', () => {
  it('advances the workspace from an EventBridge event with a normalized detail', async () => {
    // Prepare
    const deps = makeDeps();
    const opened = await openWorkspace(deps, users.alice, 'demo');
    const handler = makeComputeEventsHandler(deps);
    // Act
    const outcome = await handler({ 'detail-type': 'carrel compute event', source: 'carrel', detail: { event: { kind: 'running', instanceId: opened.instanceId, address: '10.0.0.9:8443' } } });
    // Assess
    assert.deepEqual(outcome, { applied: true, state: 'provisioning' });
    assert.equal(deps.store.peek(opened)?.address, '10.0.0.9:8443');
  });

  it('accepts the bare detail with tags (the local supervisor)', async () => {
    // Prepare
    const deps = makeDeps();
    const ws = makeWorkspace('starting');
    deps.store.seed(ws);
    // Act
    const outcome = await makeComputeEventsHandler(deps)({ event: { kind: 'running', instanceId: 'i-new', address: '127.0.0.1:9000' }, tags: tagsOf(ws) });
    // Assess
    assert.equal(outcome.applied, true);
    assert.equal(deps.store.peek(ws)?.instanceId, 'i-new');
  });

  for (const [what, input] of [
    ['an unknown kind', { detail: { event: { kind: 'exploded', instanceId: 'i-1' } } }],
    ['a missing instance id', { detail: { event: { kind: 'stopped' } } }],
    ['no event at all', { detail: {} }],
    ['a running event without an address', { detail: { event: { kind: 'running', instanceId: 'i-1' } } }],
  ] as const) {
    it(`drops ${what} with a logged error and touches nothing`, async () => {
      // Prepare
      const deps = makeDeps();
      // Act
      const outcome = await makeComputeEventsHandler(deps)(input);
      // Assess
      assert.equal(outcome.applied, false);
      assert.match(outcome.note ?? '', /^invalid event: detail/);
      assert.equal(deps.log.find('compute event dropped', 'error').length, 1);
      assert.deepEqual(deps.store.ops, []);
    });
  }
});

describe('compute-events handler: raw EC2 events', () => {
  it('walks an EC2 workspace from running to provisioning with the looked-up address', async () => {
    // Prepare
    const ws = starting(INSTANCE);
    const looked: string[] = [];
    const deps = depsWith(
      EC2_SOURCES(async (id) => {
        looked.push(id);
        return { address: '10.0.12.34:443', tags: tagsOf(ws) };
      }),
    );
    deps.store.seed(ws);
    // Act
    const outcome = await makeComputeEventsHandler(deps)(ec2Event('running'));
    // Assess
    assert.deepEqual(outcome, { applied: true, state: 'provisioning' });
    assert.deepEqual(looked, [INSTANCE]);
    assert.equal(deps.hostnames.records.get(`${ws.hostLabel}.app.test`), '10.0.12.34:443');
  });

  it('finds a record that does not name the instance yet by the looked-up tags', async () => {
    // Prepare
    const ws = makeWorkspace('starting');
    const deps = depsWith(EC2_SOURCES(async () => ({ address: '10.0.12.34:443', tags: tagsOf(ws) })));
    deps.store.seed(ws);
    // Act
    const outcome = await makeComputeEventsHandler(deps)(ec2Event('running'));
    // Assess
    assert.equal(outcome.state, 'provisioning');
    assert.equal(deps.store.peek(ws)?.instanceId, INSTANCE);
  });

  it('maps stopped to the end of a stop', async () => {
    // Prepare
    const ws = makeWorkspace('stopping', { instanceId: INSTANCE });
    const deps = depsWith(EC2_SOURCES(async () => assert.fail('no lookup for stopped')));
    deps.store.seed(ws);
    // Act
    const outcome = await makeComputeEventsHandler(deps)(ec2Event('stopped'));
    // Assess
    assert.deepEqual(outcome, { applied: true, state: 'stopped' });
  });

  for (const state of ['pending', 'stopping', 'shutting-down']) {
    it(`ignores ${state} without touching the store`, async () => {
      // Prepare
      const deps = depsWith(EC2_SOURCES(async () => assert.fail('no lookup')));
      // Act
      const outcome = await makeComputeEventsHandler(deps)(ec2Event(state));
      // Assess
      assert.deepEqual(outcome, { applied: false, note: 'EC2 Instance State-change Notification ignored' });
      assert.deepEqual(deps.store.ops, []);
      assert.equal(deps.log.find('compute event ignored', 'info').length, 1);
    });
  }

  it("ignores another deployment's instance without touching the store", async () => {
    // Prepare
    const deps = depsWith(EC2_SOURCES(async () => undefined));
    // Act
    const outcome = await makeComputeEventsHandler(deps)(ec2Event('running'));
    // Assess
    assert.equal(outcome.applied, false);
    assert.deepEqual(deps.store.ops, []);
  });

  it('ignores and logs a stop of an instance no record owns', async () => {
    // Prepare
    const deps = depsWith(EC2_SOURCES(async () => undefined));
    // Act
    const outcome = await makeComputeEventsHandler(deps)(ec2Event('stopped', 'i-0ffffffffffffffff'));
    // Assess
    assert.deepEqual(outcome, { applied: false, note: 'unknown instance' });
    assert.equal(deps.log.find('unknown instance', 'warn').length, 1);
  });

  it('throws when the instance lookup fails, so the event is retried', async () => {
    // Prepare
    const deps = depsWith(EC2_SOURCES(async () => Promise.reject(new TransientError('Looking up instance failed for now: Request limit exceeded.'))));
    deps.store.seed(starting(INSTANCE));
    // Act / Assess
    await assert.rejects(makeComputeEventsHandler(deps)(ec2Event('running')), TransientError);
    assert.equal(deps.store.peek({ analysisId: 'demo', userId: 'alice' })?.state, 'starting');
  });

  it('throws when the store fails, so the event is retried', async () => {
    // Prepare
    const deps = depsWith(EC2_SOURCES(async () => undefined));
    deps.store.seed(makeWorkspace('stopping', { instanceId: INSTANCE }));
    deps.store.failNext('findByInstance');
    // Act / Assess
    await assert.rejects(makeComputeEventsHandler(deps)(ec2Event('stopped')), TransientError);
  });

  it('drops an EC2 event when this deployment has no EC2 compute, logging why', async () => {
    // Prepare
    const deps = makeDeps();
    // Act
    const outcome = await makeComputeEventsHandler(deps)(ec2Event('running'));
    // Assess
    assert.deepEqual(outcome, { applied: false, note: 'EC2 Instance State-change Notification needs COMPUTE_KIND=ec2' });
    assert.equal(deps.log.find('compute event dropped', 'error').length, 1);
    assert.deepEqual(deps.store.ops, []);
  });

  it('drops a malformed EC2 event with the field named', async () => {
    // Prepare
    const deps = depsWith(EC2_SOURCES(async () => assert.fail('no lookup')));
    const event = { ...ec2Event('running'), detail: { state: 'running' } };
    // Act
    const outcome = await makeComputeEventsHandler(deps)(event);
    // Assess
    assert.match(outcome.note ?? '', /^invalid event: detail\.instance-id is required/);
    assert.equal(deps.log.find('compute event dropped', 'error').length, 1);
  });
});

describe('compute-events handler: raw ECS events (Fargate needs no provisioner)', () => {
  it('walks a Fargate workspace to ready: RUNNING publishes the hostname, the ready container exiting 0 makes it ready', async () => {
    // Prepare
    const ws = starting(TASK);
    const deps = depsWith(ECS_SOURCES);
    deps.store.seed(ws);
    const handler = makeComputeEventsHandler(deps);
    const running = [
      { name: 'tool', lastStatus: 'RUNNING' },
      { name: 'gate', lastStatus: 'RUNNING' },
      { name: 'ready', lastStatus: 'PENDING' },
    ];
    // Act
    const first = await handler(ecsEvent('RUNNING', running));
    const second = await handler(ecsEvent('RUNNING', [...running.slice(0, 2), { name: 'ready', lastStatus: 'STOPPED', exitCode: 0 }], { version: 4 }));
    // Assess
    assert.deepEqual(first, { applied: true, state: 'provisioning' });
    assert.deepEqual(second, { applied: true, state: 'ready' });
    assert.equal(deps.store.peek(ws)?.address, '10.0.12.34:443');
    assert.equal(deps.hostnames.records.get(`${ws.hostLabel}.app.test`), '10.0.12.34:443');
  });

  it('completes a start whose tool-ready overtook its RUNNING event', async () => {
    // Prepare
    const ws = starting(TASK);
    const deps = depsWith(ECS_SOURCES);
    deps.store.seed(ws);
    // Act
    const outcome = await makeComputeEventsHandler(deps)(ecsEvent('RUNNING', [{ name: 'tool', lastStatus: 'RUNNING' }, { name: 'gate', lastStatus: 'RUNNING' }, { name: 'ready', lastStatus: 'STOPPED', exitCode: 0 }]));
    // Assess
    assert.deepEqual(outcome, { applied: true, state: 'ready' });
  });

  it('maps the end of a carrel stop to stopped', async () => {
    // Prepare
    const ws = makeWorkspace('stopping', { instanceId: TASK });
    const deps = depsWith(ECS_SOURCES);
    deps.store.seed(ws);
    // Act
    const outcome = await makeComputeEventsHandler(deps)(ecsEvent('STOPPED', [{ name: 'tool', lastStatus: 'STOPPED', exitCode: 143 }], { stoppedReason: STOP_REASON, stopCode: 'UserInitiated' }));
    // Assess
    assert.deepEqual(outcome, { applied: true, state: 'stopped' });
  });

  it('fails a workspace whose home could not be mounted, with the reason on the record', async () => {
    // Prepare
    const ws = starting(TASK);
    const deps = depsWith(ECS_SOURCES);
    deps.store.seed(ws);
    const stoppedReason = 'ResourceInitializationError: failed to invoke EFS utils commands to set up EFS volumes: stderr: mount.nfs4: access denied by server';
    // Act
    const outcome = await makeComputeEventsHandler(deps)(ecsEvent('STOPPED', [{ name: 'tool', lastStatus: 'STOPPED' }], { stoppedReason, stopCode: 'TaskFailedToStart' }));
    // Assess
    assert.deepEqual(outcome, { applied: true, state: 'failed' });
    assert.match(deps.store.peek(ws)?.reason ?? '', /^The workspace home could not be mounted \(ResourceInitializationError/);
  });

  it("ignores another deployment's task without touching the store", async () => {
    // Prepare
    const deps = depsWith(ECS_SOURCES);
    // Act
    const outcome = await makeComputeEventsHandler(deps)(ecsEvent('RUNNING', [], { startedBy: 'carrel-staging' }));
    // Assess
    assert.equal(outcome.applied, false);
    assert.deepEqual(deps.store.ops, []);
  });

  it('drops an ECS event when this deployment has no Fargate compute', async () => {
    // Prepare
    const deps = depsWith(EC2_SOURCES(async () => undefined));
    // Act
    const outcome = await makeComputeEventsHandler(deps)(ecsEvent('RUNNING', []));
    // Assess
    assert.deepEqual(outcome, { applied: false, note: 'ECS Task State Change needs COMPUTE_KIND=fargate' });
  });
});

describe('compute-events handler: other events', () => {
  it('drops an AWS event of a detail type it does not map, with a warning', async () => {
    // Prepare
    const deps = depsWith(ECS_SOURCES);
    // Act
    const outcome = await makeComputeEventsHandler(deps)({ source: 'aws.ec2', 'detail-type': 'EC2 Spot Instance Interruption Warning', detail: { 'instance-id': INSTANCE, 'instance-action': 'terminate' } });
    // Assess
    assert.deepEqual(outcome, { applied: false, note: 'unknown detail type: EC2 Spot Instance Interruption Warning' });
    assert.equal(deps.log.find('unknown detail type', 'warn').length, 1);
    assert.deepEqual(deps.store.ops, []);
  });

  it('accepts a normalized tool-ready that carries the address', async () => {
    // Prepare
    const ws = starting('i-new');
    const deps = makeDeps();
    deps.store.seed(ws);
    // Act
    const outcome = await makeComputeEventsHandler(deps)({ event: { kind: 'tool-ready', instanceId: 'i-new', address: '127.0.0.1:9000' }, tags: tagsOf(ws) });
    // Assess
    assert.deepEqual(outcome, { applied: true, state: 'ready' });
  });
});

describe('housekeeping handler', () => {
  it('runs one housekeeping pass and returns its report', async () => {
    // Prepare
    const deps = makeDeps();
    const idle = makeWorkspace('ready');
    deps.store.seed(idle);
    deps.clock.advance(deps.policy.idleTimeoutMs + 1_000);
    // Act
    const report = await makeHousekeepingHandler(deps)({ source: 'aws.events', 'detail-type': 'Scheduled Event' });
    // Assess
    assert.deepEqual(report.stoppedIdle, ['demo/alice']);
    assert.equal(deps.store.peek(idle)?.state, 'stopping');
  });
});
