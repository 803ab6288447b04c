import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  deadlineFor,
  handleComputeEvent,
  housekeepingPass,
  openWorkspace,
  stopByUser,
  WORKSPACE_STATES,
  type Workspace,
  type WorkspaceState,
} from '../../../lambdas/core/index.js';
import { makeDeps, makeWorkspace, openToReady, seedWorkspace, T0, TEST_POLICY, users } from '../../support/fakes.js';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;
const key = { analysisId: 'demo', userId: 'alice' };

/** The configured deadline of each state (ms after entering it), or undefined where none applies. */
const CONFIGURED: Record<WorkspaceState, number | undefined> = {
  starting: TEST_POLICY.deadlines.starting,
  provisioning: TEST_POLICY.deadlines.provisioning,
  ready: undefined,
  stopping: TEST_POLICY.deadlines.stopping,
  stopped: TEST_POLICY.stoppedRetentionMs,
  terminating: TEST_POLICY.deadlines.terminating,
  terminated: undefined,
  failed: undefined,
};

describe('deadlines', () => {
  for (const state of WORKSPACE_STATES) {
    const ms = CONFIGURED[state];
    it(`${state} ${ms === undefined ? 'has no deadline' : `has its configured deadline (${ms} ms)`}`, () => {
      // Prepare
      const entered = new Date(T0.getTime() + 12_345);
      // Act
      const deadline = deadlineFor(state, entered, TEST_POLICY);
      // Assess
      assert.equal(deadline, ms === undefined ? undefined : new Date(entered.getTime() + ms).toISOString());
    });
  }

  it('gives starting, provisioning, stopping and terminating distinct deadlines from the policy', () => {
    // Prepare
    const policy = { ...TEST_POLICY, deadlines: { starting: 1_000, provisioning: 2_000, stopping: 3_000, terminating: 4_000 } };
    // Act
    const got = (['starting', 'provisioning', 'stopping', 'terminating'] as const).map((s) => Date.parse(deadlineFor(s, T0, policy)!) - T0.getTime());
    // Assess
    assert.deepEqual(got, [1_000, 2_000, 3_000, 4_000]);
  });
});

describe('housekeeping acts on deadlines', () => {
  it('fails a workspace stuck in starting at its deadline, not one millisecond before, and terminates its instance', async () => {
    // Prepare
    const f = makeDeps();
    const opened = await openWorkspace(f, users.alice, 'demo');
    f.clock.advance(TEST_POLICY.deadlines.starting - 1);

    // Act
    const early = await housekeepingPass(f);

    // Assess
    assert.equal(f.store.peek(key)?.state, 'starting');
    assert.deepEqual(early.failedOverdue, []);
    assert.deepEqual(f.compute.idsOf('terminate'), []);

    // Act
    f.clock.advance(1);
    const due = await housekeepingPass(f);

    // Assess
    const failed = f.store.peek(key)!;
    assert.equal(failed.state, 'failed');
    assert.equal(failed.reason, 'The workspace did not start in time');
    assert.deepEqual(due.failedOverdue, ['demo/alice']);
    assert.deepEqual(f.compute.idsOf('terminate'), [opened.instanceId]);
    assert.equal(f.compute.running().length, 0);
  });

  it('fails a workspace stuck in provisioning at its deadline with a reason naming the tool, and releases its hostname', async () => {
    // Prepare
    const f = makeDeps();
    const opened = await openWorkspace(f, users.alice, 'demo');
    f.clock.advance(10_000);
    await handleComputeEvent(f, { kind: 'running', instanceId: opened.instanceId!, address: '10.0.0.7:8443' });
    const provisioning = f.store.peek(key)!;
    f.clock.advance(TEST_POLICY.deadlines.provisioning - 1);

    // Act
    await housekeepingPass(f);

    // Assess
    assert.equal(f.store.peek(key)?.state, 'provisioning');
    assert.ok(f.hostnames.has(provisioning.hostname!));

    // Act
    f.clock.advance(1);
    await housekeepingPass(f);

    // Assess
    const failed = f.store.peek(key)!;
    assert.equal(failed.state, 'failed');
    assert.equal(failed.reason, 'Jupyter did not become ready in time');
    assert.equal(f.hostnames.has(provisioning.hostname!), false);
    assert.equal(f.compute.stateOf(opened.instanceId!), 'terminated');
  });

  it('terminates a workspace whose stop did not complete by the stopping deadline', async () => {
    // Prepare
    const f = makeDeps();
    const ready = await openToReady(f, users.alice, 'demo');
    await stopByUser(f, users.alice, key); // no `stopped` event ever arrives
    f.clock.advance(TEST_POLICY.deadlines.stopping - 1);

    // Act
    await housekeepingPass(f);

    // Assess
    assert.equal(f.store.peek(key)?.state, 'stopping');
    assert.deepEqual(f.compute.idsOf('terminate'), []);

    // Act
    f.clock.advance(1);
    const report = await housekeepingPass(f);

    // Assess
    const ws = f.store.peek(key)!;
    assert.equal(ws.state, 'terminating');
    assert.equal(ws.deadlineAt, new Date(f.clock.now().getTime() + TEST_POLICY.deadlines.terminating).toISOString());
    assert.deepEqual(report.terminated, ['demo/alice']);
    assert.deepEqual(f.compute.idsOf('terminate'), [ready.instanceId]);
  });

  it('terminates a stopped workspace when its retention ends, not one millisecond before', async () => {
    // Prepare
    const f = makeDeps();
    const ready = await openToReady(f, users.alice, 'demo');
    await stopByUser(f, users.alice, key);
    await handleComputeEvent(f, { kind: 'stopped', instanceId: ready.instanceId! });
    assert.equal(f.store.peek(key)?.state, 'stopped');
    f.clock.advance(7 * DAY - 1);

    // Act
    await housekeepingPass(f);

    // Assess
    assert.equal(f.store.peek(key)?.state, 'stopped');
    assert.equal(f.compute.stateOf(ready.instanceId!), 'stopped');

    // Act
    f.clock.advance(1);
    await housekeepingPass(f);
    await handleComputeEvent(f, { kind: 'terminated', instanceId: ready.instanceId! });

    // Assess
    const ws = f.store.peek(key)!;
    assert.equal(ws.state, 'terminated');
    assert.equal(ws.instanceId, undefined);
    assert.equal(f.compute.stateOf(ready.instanceId!), 'terminated');
    assert.ok(f.homes.homes.has('demo/alice'), 'the home is kept');
  });

  it('fails a workspace stuck in terminating at its deadline and retries the terminate', async () => {
    // Prepare
    const f = makeDeps();
    const ws = seedWorkspace(f, makeWorkspace('terminating', {}, { at: f.clock.now() }));
    f.compute.failNext('terminate', new Error('terminate timed out'));
    f.clock.advance(TEST_POLICY.deadlines.terminating - 1);

    // Act
    await housekeepingPass(f);

    // Assess
    assert.equal(f.store.peek(key)?.state, 'terminating');

    // Act
    f.clock.advance(1);
    const report = await housekeepingPass(f);

    // Assess
    const failed = f.store.peek(key)!;
    assert.equal(failed.state, 'failed');
    assert.equal(failed.reason, 'The workspace could not be removed in time');
    assert.deepEqual(report.failedOverdue, ['demo/alice']);
    assert.ok(f.compute.idsOf('terminate').includes(ws.instanceId!));
  });

  it('finishes a stopped workspace that has no instance at once instead of waiting in terminating', async () => {
    // Prepare
    const f = makeDeps();
    seedWorkspace(f, makeWorkspace('stopped', { instanceId: undefined, address: undefined, hostname: undefined }, { at: f.clock.now() }));
    f.clock.advance(TEST_POLICY.stoppedRetentionMs);

    // Act
    const report = await housekeepingPass(f);

    // Assess
    const ws = f.store.peek(key)!;
    assert.equal(ws.state, 'terminated');
    assert.equal(ws.dueAt, undefined);
    assert.deepEqual(report.terminated, ['demo/alice']);
  });

  it('does not fail a workspace that became ready between the due query and the write', async () => {
    // Prepare
    const f = makeDeps();
    const opened = await openWorkspace(f, users.alice, 'demo');
    await handleComputeEvent(f, { kind: 'running', instanceId: opened.instanceId!, address: '10.0.0.7:8443' });
    f.clock.advance(TEST_POLICY.deadlines.provisioning);
    const findDue = f.store.findDue.bind(f.store);
    f.store.findDue = async (now, limit) => {
      const due = await findDue(now, limit);
      await handleComputeEvent(f, { kind: 'tool-ready', instanceId: opened.instanceId! }); // lands in between
      return due;
    };

    // Act
    const report = await housekeepingPass(f);

    // Assess
    assert.deepEqual(report.failedOverdue, []);
    assert.equal(f.store.peek(key)?.state, 'ready');
    assert.equal(f.compute.stateOf(opened.instanceId!), 'pending');
  });

  it('leaves ready and terminal records alone however old they are', async () => {
    // Prepare
    const f = makeDeps();
    const records: Workspace[] = [
      makeWorkspace('failed', { userId: 'u1', instanceId: undefined, reason: 'x' }),
      makeWorkspace('terminated', { userId: 'u2', instanceId: undefined, hostname: undefined }),
    ];
    records.forEach((ws) => f.store.seed(ws));
    f.clock.advance(365 * DAY);

    // Act
    const report = await housekeepingPass(f);

    // Assess
    assert.equal(report.examined, 0);
    assert.deepEqual(f.store.all().map((ws) => ws.state).sort(), ['failed', 'terminated']);
    assert.equal(f.store.count('put'), 0);
  });
});
