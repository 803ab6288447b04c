import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { getWorkspace, NotAllowedError, NotFoundError, stopByUser } from '../../../lambdas/core/index.js';
import { makeDeps, makeWorkspace, openToReady, plain, seedWorkspace, users } from '../../support/fakes.js';

const alice = { analysisId: 'demo', userId: 'alice' };

describe('stop', () => {
  it('the owner stops their workspace: stopping, hostname released, compute stopped', async () => {
    // Prepare
    const f = makeDeps();
    const ready = await openToReady(f, users.alice, 'demo');
    f.clock.advance(1_000);

    // Act
    const ws = await stopByUser(f, users.alice, alice);

    // Assess
    assert.equal(ws.state, 'stopping');
    assert.equal(ws.reason, 'Stopped by alice');
    assert.equal(ws.stateEnteredAt, f.clock.iso());
    assert.deepEqual(f.store.peek(alice), plain(ws));
    assert.deepEqual(f.compute.idsOf('stop'), [ready.instanceId]);
    assert.deepEqual(f.hostnames.released, [ready.hostname]);
    assert.equal(f.hostnames.has(ready.hostname!), false);
  });

  it("an admin stops someone else's workspace", async () => {
    // Prepare
    const f = makeDeps();
    const ready = await openToReady(f, users.alice, 'demo');

    // Act
    const ws = await stopByUser(f, users.pat, alice);

    // Assess
    assert.equal(ws.state, 'stopping');
    assert.equal(ws.reason, 'Stopped by pat');
    assert.deepEqual(f.compute.idsOf('stop'), [ready.instanceId]);
    assert.equal(f.hostnames.has(ready.hostname!), false);
  });

  it("another researcher may not stop someone else's workspace", async () => {
    // Prepare
    const f = makeDeps();
    const ready = await openToReady(f, users.alice, 'demo');
    const calls = f.compute.calls.length;

    // Act + Assess
    await assert.rejects(stopByUser(f, users.bob, alice), NotAllowedError);
    assert.deepEqual(f.store.peek(alice), ready);
    assert.equal(f.compute.calls.length, calls);
    assert.ok(f.hostnames.has(ready.hostname!));
  });

  it('stopping a workspace that is not running returns it unchanged; a missing one is not found', async () => {
    // Prepare
    const f = makeDeps();
    const stopped = seedWorkspace(f, makeWorkspace('stopped'));

    // Act
    const same = await stopByUser(f, users.alice, alice);

    // Assess
    assert.deepEqual(same, stopped);
    assert.equal(f.store.count('put'), 0);
    assert.deepEqual(f.compute.idsOf('stop'), []);
    await assert.rejects(stopByUser(f, users.bob, { analysisId: 'demo', userId: 'bob' }), NotFoundError);
  });

  it('a compute stop that fails is logged and left to the stopping deadline', async () => {
    // Prepare
    const f = makeDeps();
    await openToReady(f, users.alice, 'demo');
    f.compute.failNext('stop', new Error('IncorrectInstanceState'));

    // Act
    const ws = await stopByUser(f, users.alice, alice);

    // Assess
    assert.equal(ws.state, 'stopping');
    assert.equal(f.log.find('stop failed', 'error').length, 1);
  });
});

describe('status', () => {
  it('is one read of the caller’s own record; none yet is not found', async () => {
    // Prepare
    const f = makeDeps();
    const ready = await openToReady(f, users.alice, 'demo');
    const before = f.store.ops.length;

    // Act
    const ws = await getWorkspace(f, users.alice, 'demo');

    // Assess
    assert.deepEqual(ws, ready);
    assert.deepEqual(f.store.ops.slice(before), ['get']);
    await assert.rejects(getWorkspace(f, users.bob, 'demo'), NotFoundError);
  });
});
