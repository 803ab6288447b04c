import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_POOL_POLICY,
  handleComputeEvent,
  MAX_SPARE_LAUNCHES_PER_PASS,
  housekeepingPass,
  openWorkspace,
  replenishPool,
  stopWorkspace,
  type PoolPolicy,
  type Spare,
  type Workspace,
} from '../../../lambdas/core/index.js';
import { FakeSpareStore, makeDeps, RecordingProvisioner, users, withoutPool } from '../../support/fakes.js';

const alice = { analysisId: 'demo', userId: 'alice' };
const bob = { analysisId: 'demo', userId: 'bob' };
const POLICY: PoolPolicy = { ...DEFAULT_POOL_POLICY, targets: { small: 2 } };


function poolDeps(policy: PoolPolicy = POLICY) {
  const provisioner = new RecordingProvisioner();
  const spares = new FakeSpareStore();
  const f = makeDeps({ provisioner, pool: { store: spares, policy } });
  return { f, spares, provisioner };
}

/** Launch the pool and bring every spare to `available`, then let the hostnames propagate. */
async function warmPool(f: ReturnType<typeof poolDeps>['f'], spares: FakeSpareStore): Promise<Spare[]> {
  await replenishPool(f);
  let n = 10;
  for (const spare of spares.all()) {
    const instance = f.compute.instances.get(spare.instanceId!)!;
    instance.state = 'running';
    await handleComputeEvent(f, { kind: 'running', instanceId: spare.instanceId!, address: `10.0.1.${n++}:443` }, instance.tags);
  }
  f.clock.advance(POLICY.propagationMs);
  return spares.all();
}

describe('warm pool upkeep', () => {
  it('launches spares up to each size\'s target, tagged as spares, with no home and one launch token each', async () => {
    // Prepare
    const { f, spares } = poolDeps();

    // Act: two passes (the second finds the pool full)
    await replenishPool(f);
    const second = await replenishPool(f);

    // Assess
    const launched = f.compute.callsOf('launchSpare');
    assert.equal(launched.length, 2);
    assert.equal(second.launched.length, 0);
    assert.equal(new Set(launched.map((c) => c.request.clientToken)).size, 2);
    for (const call of launched) {
      assert.equal(call.request.size, 'small');
      assert.equal(call.request.tags['carrel:deployment'], f.deploymentId);
      assert.match(call.request.tags['carrel:spare'], /^[a-z0-9]{16}$/);
      assert.equal(call.request.clientToken, `spare-${call.request.tags['carrel:spare']}`);
    }
    assert.deepEqual(spares.all().map((s) => s.state), ['warming', 'warming']);
    assert.equal(f.compute.launchCount, 2);
  });

  it('publishes a spare\'s hostname when its instance runs, and makes it available', async () => {
    // Prepare
    const { f, spares } = poolDeps({ ...POLICY, targets: { small: 1 } });
    await replenishPool(f);
    const [spare] = spares.all();
    const tags = f.compute.instances.get(spare.instanceId!)!.tags;

    // Act
    const outcome = await handleComputeEvent(f, { kind: 'running', instanceId: spare.instanceId!, address: '10.0.1.7:443' }, tags);

    // Assess
    assert.equal(outcome.applied, true);
    const after = spares.all()[0];
    assert.equal(after.state, 'available');
    assert.equal(after.address, '10.0.1.7:443');
    assert.equal(f.hostnames.records.get(`${spare.hostLabel}.${f.hostnames.deskDomain}`), '10.0.1.7:443');
  });

  it('retires a spare that never came up, and one past its maximum age, and replaces both', async () => {
    // Prepare
    const { f, spares } = poolDeps();
    const [late, old] = await warmPool(f, spares);
    spares.seed({ ...late, state: 'warming', publishedAt: undefined, address: undefined });
    f.clock.advance(POLICY.warmupMs);
    spares.seed({ ...old, createdAt: new Date(f.clock.now().getTime() - POLICY.maxAgeMs - 1).toISOString() });

    // Act
    const report = await housekeepingPass(f);

    // Assess
    assert.deepEqual([...report.sparesRetired].sort(), [late.spareId, old.spareId].sort());
    assert.equal(report.sparesLaunched.length, 2);
    assert.ok(f.compute.idsOf('terminate').includes(late.instanceId!));
    assert.ok(f.compute.idsOf('terminate').includes(old.instanceId!));
    assert.ok(f.hostnames.released.includes(`${old.hostLabel}.${f.hostnames.deskDomain}`));
    assert.equal(spares.all().length, 2);
    assert.ok(spares.all().every((s) => s.spareId !== late.spareId && s.spareId !== old.spareId));
  });

  it('retires a spare whose instance stopped or ended outside carrel', async () => {
    // Prepare
    const { f, spares } = poolDeps({ ...POLICY, targets: { small: 1 } });
    const [spare] = await warmPool(f, spares);
    const tags = f.compute.instances.get(spare.instanceId!)!.tags;

    // Act
    const outcome = await handleComputeEvent(f, { kind: 'stopped', instanceId: spare.instanceId! }, tags);

    // Assess
    assert.equal(outcome.applied, true);
    assert.equal(spares.all().length, 0);
    assert.ok(f.compute.idsOf('terminate').includes(spare.instanceId!));
    assert.equal(f.hostnames.has(`${spare.hostLabel}.${f.hostnames.deskDomain}`), false);
  });

  it('launches at most MAX_SPARE_LAUNCHES_PER_PASS spares a pass; the next pass goes on', async () => {
    // Prepare
    const { f, spares } = poolDeps({ ...POLICY, targets: { small: 4, large: 4 } });

    // Act
    const first = await replenishPool(f);
    const second = await replenishPool(f);

    // Assess
    assert.equal(first.launched.length, MAX_SPARE_LAUNCHES_PER_PASS);
    assert.equal(second.launched.length, 8 - MAX_SPARE_LAUNCHES_PER_PASS);
    assert.equal(spares.all().length, 8);
  });

  it('keeps going when a spare cannot be launched (no capacity): the error is reported and the record removed', async () => {
    // Prepare
    const { f, spares } = poolDeps();
    f.compute.failNext('launchSpare', new Error('InsufficientInstanceCapacity'));

    // Act
    const report = await replenishPool(f);

    // Assess
    assert.match(report.errors.join(' '), /InsufficientInstanceCapacity/);
    assert.equal(spares.all().length, 0);
    assert.equal(report.launched.length, 0);
  });

  it('does nothing when compute cannot keep spares (Fargate, local processes)', async () => {
    // Prepare
    const spares = new FakeSpareStore();
    const base = makeDeps();
    const f = makeDeps({ compute: withoutPool(base.compute), pool: { store: spares, policy: POLICY } });

    // Act
    const report = await replenishPool(f);
    const ws = await openWorkspace(f, users.alice, 'demo');

    // Assess
    assert.equal(report.launched.length, 0);
    assert.equal(spares.all().length, 0);
    assert.equal(ws.state, 'starting');
    assert.equal(base.compute.launchCount, 1);
  });
});

describe('opening on a spare', () => {
  it('takes an available spare: no launch, straight to provisioning with the spare\'s hostname, retagged for the workspace', async () => {
    // Prepare
    const { f, spares, provisioner } = poolDeps();
    const pool = await warmPool(f, spares);
    const launchesBefore = f.compute.launchCount;

    // Act
    const ws = await openWorkspace(f, users.alice, 'demo');

    // Assess
    assert.equal(f.compute.launchCount, launchesBefore);
    assert.equal(ws.state, 'provisioning');
    const taken = pool.find((s) => s.instanceId === ws.instanceId)!;
    assert.ok(taken, 'the workspace runs on one of the spares');
    assert.equal(ws.hostLabel, taken.hostLabel);
    assert.equal(ws.hostname, `${taken.hostLabel}.${f.hostnames.deskDomain}`);
    assert.equal(ws.address, taken.address);
    const tags = f.compute.instances.get(ws.instanceId!)!.tags;
    assert.equal(tags['carrel:analysis'], 'demo');
    assert.equal(tags['carrel:user'], 'alice');
    assert.equal(tags['carrel:generation'], String(ws.generation));
    assert.ok(tags['carrel:home']);
    assert.equal(tags['carrel:spare'], undefined);
    assert.deepEqual(provisioner.requests.map((r) => r.instanceId), [ws.instanceId]);
    assert.equal(spares.all().length, 1, 'the taken spare left the pool');
    assert.equal(f.hostnames.assigned.length, 2, 'no new hostname was published for the workspace');
  });

  it('hands out a spare only once its hostname has had time to propagate', async () => {
    // Prepare
    const { f, spares } = poolDeps({ ...POLICY, targets: { small: 1 } });
    await replenishPool(f);
    const [spare] = spares.all();
    await handleComputeEvent(f, { kind: 'running', instanceId: spare.instanceId!, address: '10.0.1.7:443' }, f.compute.instances.get(spare.instanceId!)!.tags);
    f.clock.advance(POLICY.propagationMs - 1_000);

    // Act
    const ws = await openWorkspace(f, users.alice, 'demo');

    // Assess
    assert.equal(ws.state, 'starting');
    assert.notEqual(ws.instanceId, spare.instanceId);
    assert.equal(spares.all()[0].state, 'available');
  });

  it('gives two concurrent opens two different spares, and a third open launches its own', async () => {
    // Prepare
    const { f, spares } = poolDeps();
    await warmPool(f, spares);
    const launchesBefore = f.compute.launchCount;
    (f.catalog.analyses[0].members as string[]).push('carol');

    // Act
    const [a, b] = await Promise.all([openWorkspace(f, users.alice, 'demo'), openWorkspace(f, users.bob, 'demo')]);
    const c = await openWorkspace(f, { userId: 'carol', roles: ['researcher'] }, 'demo');

    // Assess
    assert.equal(a.state, 'provisioning');
    assert.equal(b.state, 'provisioning');
    assert.notEqual(a.instanceId, b.instanceId);
    assert.equal(c.state, 'starting');
    assert.equal(f.compute.launchCount, launchesBefore + 1);
    assert.equal(spares.all().length, 0);
  });

  it('resumes a stopped workspace on a spare and terminates the stopped instance', async () => {
    // Prepare: alice's workspace ran on its own instance and was stopped
    const { f, spares } = poolDeps({ ...POLICY, targets: {} });
    const first = await openWorkspace(f, users.alice, 'demo');
    await handleComputeEvent(f, { kind: 'running', instanceId: first.instanceId!, address: '10.0.0.5:443' });
    await handleComputeEvent(f, { kind: 'tool-ready', instanceId: first.instanceId! });
    await stopWorkspace(f, alice, 'idle');
    await handleComputeEvent(f, { kind: 'stopped', instanceId: first.instanceId! });
    (f.pool!.policy as { targets: Record<string, number> }).targets = { small: 1 };
    await warmPool(f, spares);

    // Act
    const resumed = await openWorkspace(f, users.alice, 'demo');

    // Assess
    assert.equal(resumed.state, 'provisioning');
    assert.equal(resumed.resumed, true);
    assert.notEqual(resumed.instanceId, first.instanceId);
    assert.deepEqual(f.compute.idsOf('start'), [], 'the stopped instance was not started');
    assert.ok(f.compute.idsOf('terminate').includes(first.instanceId!));
  });

  it('resumes the stopped instance itself when the pool is not used for resumes (hibernation keeps kernels)', async () => {
    // Prepare
    const { f, spares } = poolDeps({ ...POLICY, targets: { small: 1 }, forResume: false });
    await warmPool(f, spares);
    const first = await openWorkspace(f, users.alice, 'demo'); // takes the spare
    await handleComputeEvent(f, { kind: 'tool-ready', instanceId: first.instanceId! });
    await stopWorkspace(f, alice, 'idle');
    await handleComputeEvent(f, { kind: 'stopped', instanceId: first.instanceId! });
    await warmPool(f, spares);

    // Act
    const resumed = await openWorkspace(f, users.alice, 'demo');

    // Assess
    assert.equal(resumed.state, 'starting');
    assert.equal(resumed.instanceId, first.instanceId);
    assert.deepEqual(f.compute.idsOf('start'), [first.instanceId]);
  });

  it('falls back to a launch, and retires the spare, when the spare cannot be retagged', async () => {
    // Prepare
    const { f, spares } = poolDeps({ ...POLICY, targets: { small: 1 } });
    const [spare] = await warmPool(f, spares);
    f.compute.failNext('adopt', new Error('UnauthorizedOperation'));

    // Act
    const ws = await openWorkspace(f, users.alice, 'demo');

    // Assess
    assert.equal(ws.state, 'starting');
    assert.notEqual(ws.instanceId, spare.instanceId);
    assert.equal(f.compute.launchCount, 2);
    assert.ok(f.compute.idsOf('terminate').includes(spare.instanceId!));
    assert.equal(spares.all().length, 0);
  });

  it('fails the workspace with a reason when the provisioner cannot be reached after taking a spare', async () => {
    // Prepare
    const { f, spares, provisioner } = poolDeps({ ...POLICY, targets: { small: 1 } });
    const [spare] = await warmPool(f, spares);
    provisioner.failure = new Error('Lambda invoke throttled');

    // Act
    const ws = await openWorkspace(f, users.alice, 'demo');

    // Assess
    assert.equal(ws.state, 'failed');
    assert.match(ws.reason ?? '', /Could not start provisioning: Lambda invoke throttled/);
    assert.ok(f.compute.idsOf('terminate').includes(spare.instanceId!));
  });

  it('launches as usual when the spare store fails', async () => {
    // Prepare
    const { f, spares } = poolDeps({ ...POLICY, targets: { small: 1 } });
    await warmPool(f, spares);
    spares.failNext();

    // Act
    const ws = await openWorkspace(f, users.alice, 'demo');

    // Assess
    assert.equal(ws.state, 'starting');
    assert.equal(f.compute.launchCount, 2);
  });
});

describe('reconciliation with a warm pool', () => {
  it('keeps spares and their hostnames, terminates a spare-tagged instance no spare record names', async () => {
    // Prepare
    const { f, spares } = poolDeps();
    const pool = await warmPool(f, spares);
    const stray = f.compute.addInstance({ tags: { 'carrel:deployment': f.deploymentId, 'carrel:spare': 'zzzzzzzzzzzzzzzz', 'carrel:size': 'small' } });
    f.hostnames.records.set(`ws-zzzzzzzzzzzzzzzz.${f.hostnames.deskDomain}`, '10.9.9.9:443');

    // Act
    const report = await housekeepingPass(f);

    // Assess
    assert.deepEqual(report.orphanInstances, [stray]);
    assert.deepEqual(report.orphanHostnames, [`ws-zzzzzzzzzzzzzzzz.${f.hostnames.deskDomain}`]);
    for (const spare of pool) {
      assert.equal(f.compute.stateOf(spare.instanceId!), 'running');
      assert.ok(f.hostnames.has(`${spare.hostLabel}.${f.hostnames.deskDomain}`));
    }
  });

  it('keeps a workspace that runs on a former spare, with its hostname', async () => {
    // Prepare
    const { f, spares } = poolDeps({ ...POLICY, targets: { small: 1 } });
    await warmPool(f, spares);
    const ws = await openWorkspace(f, users.alice, 'demo');
    await handleComputeEvent(f, { kind: 'tool-ready', instanceId: ws.instanceId! });

    // Act
    const report = await housekeepingPass(f);

    // Assess
    assert.deepEqual(report.orphanInstances, []);
    assert.equal(f.compute.stateOf(ws.instanceId!), 'running');
    assert.ok(f.hostnames.has(ws.hostname!));
    assert.equal(f.store.peek(alice)!.state, 'ready');
    assert.equal(f.store.peek(bob), undefined);
  });

  it('undoes a claim whose open died before recording it: the spare is retired', async () => {
    // Prepare: a spare claimed by a generation whose record never took it
    const { f, spares } = poolDeps({ ...POLICY, targets: { small: 1 } });
    const [spare] = await warmPool(f, spares);
    spares.seed({ ...spare, state: 'claimed', claimedBy: { ...alice, generation: 1 }, stateEnteredAt: f.clock.iso(), version: spare.version + 1 });
    f.clock.advance(POLICY.claimGraceMs + 1);

    // Act
    const report = await housekeepingPass(f);

    // Assess
    assert.deepEqual(report.sparesRetired, [spare.spareId]);
    assert.ok(f.compute.idsOf('terminate').includes(spare.instanceId!));
  });
});
