import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ConflictError,
  heartbeat,
  housekeepingPass,
  idleVerdict,
  NotFoundError,
  openWorkspace,
  reportActivity,
} from '../../../lambdas/core/index.js';
import { makeDeps, openToReady, T0, TEST_POLICY, users } from '../../support/fakes.js';

const MIN = 60_000;
const IDLE = TEST_POLICY.idleTimeoutMs;
const WARN = TEST_POLICY.idleWarningMs;
const alice = { analysisId: 'demo', userId: 'alice' };
const bob = { analysisId: 'demo', userId: 'bob' };

describe('idle verdict', () => {
  const last = T0.toISOString();
  const after = (ms: number) => new Date(T0.getTime() + ms);

  it('is active until exactly idleWarningMs before the stop', () => {
    // Prepare
    const justBefore = after(IDLE - WARN - 1);
    // Act
    const verdict = idleVerdict(last, justBefore, TEST_POLICY);
    // Assess
    assert.deepEqual(verdict, { kind: 'active', stopAt: after(IDLE).toISOString() });
  });

  it('warns from exactly idleWarningMs before the stop, counting seconds down', () => {
    // Prepare
    const warnAt = after(IDLE - WARN);
    const lastMs = after(IDLE - 1);
    // Act
    const first = idleVerdict(last, warnAt, TEST_POLICY);
    const final = idleVerdict(last, lastMs, TEST_POLICY);
    // Assess
    assert.deepEqual(first, { kind: 'warn', stopAt: after(IDLE).toISOString(), secondsLeft: WARN / 1000 });
    assert.deepEqual(final, { kind: 'warn', stopAt: after(IDLE).toISOString(), secondsLeft: 1 });
  });

  it('is idle from the stop time on', () => {
    // Prepare
    const stopAt = after(IDLE);
    // Act
    const verdict = idleVerdict(last, stopAt, TEST_POLICY);
    // Assess
    assert.deepEqual(verdict, { kind: 'idle' });
  });
});

describe('idle policy over time (fake clock)', () => {
  it('a ready workspace with no activity is stopped by housekeeping at the timeout, not before', async () => {
    // Prepare
    const f = makeDeps();
    const ready = await openToReady(f, users.alice, 'demo');
    f.clock.advance(IDLE - 1);

    // Act
    const early = await housekeepingPass(f);

    // Assess
    assert.deepEqual(early.stoppedIdle, []);
    assert.equal(f.store.peek(alice)?.state, 'ready');

    // Act
    f.clock.advance(1);
    const due = await housekeepingPass(f);

    // Assess
    const ws = f.store.peek(alice)!;
    assert.deepEqual(due.stoppedIdle, ['demo/alice']);
    assert.equal(ws.state, 'stopping');
    assert.equal(ws.reason, 'Stopped after being idle');
    assert.deepEqual(f.compute.idsOf('stop'), [ready.instanceId]);
    assert.equal(f.hostnames.has(ready.hostname!), false);
  });

  it('a heartbeat pushes the stop time to a full timeout after it, in one write and no read', async () => {
    // Prepare
    const f = makeDeps();
    const ready = await openToReady(f, users.alice, 'demo');
    f.clock.advance(20 * MIN);
    const opsBefore = f.store.ops.length;

    // Act
    const touched = await heartbeat(f, users.alice, 'demo');

    // Assess
    assert.deepEqual(f.store.ops.slice(opsBefore), ['touch']);
    assert.equal(touched.lastActivityAt, f.clock.iso());
    assert.equal(touched.dueAt, new Date(f.clock.now().getTime() + IDLE).toISOString());
    assert.equal(touched.version, ready.version + 1);

    // Act: the old stop time passes, then the new one
    f.clock.advance(IDLE - 20 * MIN);
    const atOldStop = await housekeepingPass(f);
    f.clock.advance(20 * MIN - 1);
    const justBeforeNewStop = await housekeepingPass(f);
    f.clock.advance(1);
    const atNewStop = await housekeepingPass(f);

    // Assess
    assert.deepEqual(atOldStop.stoppedIdle, []);
    assert.deepEqual(justBeforeNewStop.stoppedIdle, []);
    assert.deepEqual(atNewStop.stoppedIdle, ['demo/alice']);
  });

  it('gate activity (traffic or busy) from the right agent pushes the stop time', async () => {
    // Prepare
    const f = makeDeps();
    const ready = await openToReady(f, users.alice, 'demo');
    f.clock.advance(29 * MIN);

    // Act
    const touched = await reportActivity(f, { ...alice, workspaceId: ready.workspaceId, generation: ready.generation });
    f.clock.advance(2 * MIN);
    const report = await housekeepingPass(f);

    // Assess
    assert.equal(touched.lastActivityAt, new Date(T0.getTime() + 29 * MIN).toISOString());
    assert.deepEqual(report.stoppedIdle, []);
    assert.equal(f.store.peek(alice)?.state, 'ready');
  });

  it('a stale agent (other workspaceId or generation) changes nothing', async () => {
    // Prepare
    const f = makeDeps();
    const ready = await openToReady(f, users.alice, 'demo');
    f.clock.advance(10 * MIN);

    // Act + Assess
    await assert.rejects(reportActivity(f, { ...alice, workspaceId: 'someoneelse000000000', generation: ready.generation }), NotFoundError);
    await assert.rejects(reportActivity(f, { ...alice, workspaceId: ready.workspaceId, generation: ready.generation - 1 }), NotFoundError);
    await assert.rejects(reportActivity(f, { ...alice, workspaceId: ready.workspaceId, generation: ready.generation + 1 }), NotFoundError);
    assert.deepEqual(f.store.peek(alice), ready);
  });

  it('a heartbeat on a workspace that is not ready is a conflict and writes nothing', async () => {
    // Prepare
    const f = makeDeps();
    const starting = await openWorkspace(f, users.alice, 'demo');

    // Act + Assess
    await assert.rejects(heartbeat(f, users.alice, 'demo'), ConflictError);
    await assert.rejects(heartbeat(f, users.bob, 'demo'), ConflictError);
    assert.deepEqual(f.store.peek(alice), starting);
    assert.equal(f.store.size, 1);
  });

  it('housekeeping stops only the idle workspace', async () => {
    // Prepare
    const f = makeDeps();
    const idle = await openToReady(f, users.alice, 'demo');
    const active = await openToReady(f, users.bob, 'demo', '10.0.0.2:8443');
    f.clock.advance(IDLE - MIN);
    await heartbeat(f, users.bob, 'demo');
    f.clock.advance(MIN);

    // Act
    const report = await housekeepingPass(f);

    // Assess
    assert.deepEqual(report.stoppedIdle, ['demo/alice']);
    assert.equal(f.store.peek(alice)?.state, 'stopping');
    assert.equal(f.store.peek(bob)?.state, 'ready');
    assert.deepEqual(f.compute.idsOf('stop'), [idle.instanceId]);
    assert.ok(f.hostnames.has(active.hostname!), "bob's hostname is kept");
    assert.equal(f.hostnames.has(idle.hostname!), false);
  });

  it('a heartbeat that lands between the due query and the stop cancels the idle stop', async () => {
    // Prepare
    const f = makeDeps();
    await openToReady(f, users.alice, 'demo');
    f.clock.advance(IDLE);
    const findDue = f.store.findDue.bind(f.store);
    f.store.findDue = async (now, limit) => {
      const due = await findDue(now, limit);
      await heartbeat(f, users.alice, 'demo');
      return due;
    };

    // Act
    const report = await housekeepingPass(f);

    // Assess
    assert.deepEqual(report.stoppedIdle, []);
    assert.equal(f.store.peek(alice)?.state, 'ready');
    assert.deepEqual(f.compute.idsOf('stop'), []);
  });
});
