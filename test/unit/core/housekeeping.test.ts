import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { housekeepingPass, openWorkspace } from '../../../lambdas/core/index.js';
import { DESK_DOMAIN, makeDeps, makeWorkspace, openToReady, seedWorkspace, tagsOf, users } from '../../support/fakes.js';

describe('housekeeping reconciliation', () => {
  it('terminates a tagged instance when its record owns a different instance, and keeps the owned one', async () => {
    // Prepare
    const f = makeDeps();
    const ready = await openToReady(f, users.alice, 'demo');
    const stray = f.compute.addInstance({ tags: tagsOf(ready) });

    // Act
    const report = await housekeepingPass(f);

    // Assess
    assert.deepEqual(report.orphanInstances, [stray]);
    assert.deepEqual(f.compute.idsOf('terminate'), [stray]);
    assert.equal(f.compute.stateOf(ready.instanceId!), 'pending');
  });

  for (const state of ['failed', 'terminated'] as const) {
    it(`terminates the instance of a ${state} record`, async () => {
      // Prepare
      const f = makeDeps();
      // a failed record may still name the instance its cleanup could not terminate
      const ws = makeWorkspace(state, state === 'failed' ? { reason: 'boom', instanceId: 'i-leftover' } : {});
      f.store.seed(ws);
      const instanceId = f.compute.addInstance({ instanceId: ws.instanceId, tags: tagsOf(ws) });

      // Act
      const report = await housekeepingPass(f);

      // Assess
      assert.deepEqual(report.orphanInstances, [instanceId]);
      assert.equal(f.compute.stateOf(instanceId), 'terminated');
    });
  }

  it('terminates a tagged instance no record knows, and one with no readable tags', async () => {
    // Prepare
    const f = makeDeps();
    const nobody = f.compute.addInstance({ tags: tagsOf({ analysisId: 'demo', userId: 'ghost', workspaceId: 'x', generation: 1 }) });
    const untagged = f.compute.addInstance({ tags: { 'carrel:deployment': f.deploymentId } });

    // Act
    const report = await housekeepingPass(f);

    // Assess
    assert.deepEqual([...report.orphanInstances].sort(), [nobody, untagged].sort());
    assert.equal(f.compute.stateOf(nobody), 'terminated');
    assert.equal(f.compute.stateOf(untagged), 'terminated');
  });

  it('terminates an instance whose workspace tag names another workspace of the same key', async () => {
    // Prepare
    const f = makeDeps();
    const ws = seedWorkspace(f, makeWorkspace('starting', { instanceId: undefined }));
    const impostor = f.compute.addInstance({ tags: { ...tagsOf(ws), 'carrel:workspace': 'otherworkspace000000' } });

    // Act
    await housekeepingPass(f);

    // Assess
    assert.equal(f.compute.stateOf(impostor), 'terminated');
  });

  it('keeps an instance launched for the current generation but not recorded yet; terminates an earlier generation’s', async () => {
    // Prepare
    const f = makeDeps();
    const ws = seedWorkspace(f, makeWorkspace('starting', { generation: 2, instanceId: undefined }));
    const current = f.compute.addInstance({ state: 'pending', tags: tagsOf(ws) });
    const earlier = f.compute.addInstance({ state: 'running', tags: tagsOf({ ...ws, generation: 1 }) });

    // Act
    const report = await housekeepingPass(f);

    // Assess
    assert.deepEqual(report.orphanInstances, [earlier]);
    assert.equal(f.compute.stateOf(current), 'pending');
    assert.equal(f.compute.stateOf(earlier), 'terminated');
  });

  it('keeps the instances of stopped, stopping and terminating records, and skips terminated instances', async () => {
    // Prepare
    const f = makeDeps();
    const records = (['stopped', 'stopping', 'terminating'] as const).map((state, i) =>
      seedWorkspace(f, makeWorkspace(state, { userId: `u${i}`, instanceId: `i-keep${i}` })),
    );
    const gone = f.compute.addInstance({ state: 'terminated', tags: tagsOf({ analysisId: 'demo', userId: 'ghost', workspaceId: 'x', generation: 1 }) });

    // Act
    const report = await housekeepingPass(f);

    // Assess
    assert.deepEqual(report.orphanInstances, []);
    assert.deepEqual(f.compute.idsOf('terminate'), []);
    assert.ok(records.every((ws) => f.compute.stateOf(ws.instanceId!) !== 'terminated'));
    assert.equal(f.compute.stateOf(gone), 'terminated');
  });

  it('leaves instances of other deployments alone', async () => {
    // Prepare
    const f = makeDeps();
    const foreign = f.compute.addInstance({ tags: { ...tagsOf({ analysisId: 'demo', userId: 'x', workspaceId: 'y', generation: 1 }), 'carrel:deployment': 'other' } });

    // Act
    await housekeepingPass(f);

    // Assess
    assert.equal(f.compute.stateOf(foreign), 'running');
    assert.deepEqual(f.compute.idsOf('terminate'), []);
  });

  it('releases hostnames no live record owns and keeps the owned ones', async () => {
    // Prepare
    const f = makeDeps();
    const ready = await openToReady(f, users.alice, 'demo');
    const starting = await openWorkspace(f, users.bob, 'demo');
    const bobHost = `${starting.hostLabel}.${DESK_DOMAIN}`;
    f.hostnames.records.set(bobHost, '10.0.0.2:8443'); // published, `running` not recorded yet
    const orphan = `ws-orphan0000000000.${DESK_DOMAIN}`;
    f.hostnames.records.set(orphan, '10.0.0.66:8443');

    // Act
    const report = await housekeepingPass(f);

    // Assess
    assert.deepEqual(report.orphanHostnames, [orphan]);
    assert.deepEqual(f.hostnames.released, [orphan]);
    assert.ok(f.hostnames.has(ready.hostname!));
    assert.ok(f.hostnames.has(bobHost));
  });

  it('keeps going when one terminate fails, and reports it', async () => {
    // Prepare
    const f = makeDeps();
    const first = f.compute.addInstance({ tags: { 'carrel:deployment': f.deploymentId } });
    const second = f.compute.addInstance({ tags: { 'carrel:deployment': f.deploymentId } });
    f.compute.failNext('terminate', new Error('throttled'));

    // Act
    const report = await housekeepingPass(f);

    // Assess
    assert.deepEqual(report.orphanInstances, [second]);
    assert.deepEqual(report.errors, [`terminate ${first}: throttled`]);
    assert.equal(f.compute.stateOf(second), 'terminated');
  });

  it('acts on due records oldest first, one batch at a time', async () => {
    // Prepare
    const f = makeDeps();
    for (const [userId, minutesAgo] of [['u1', 10], ['u2', 30], ['u3', 20]] as const) {
      f.store.seed(makeWorkspace('starting', { userId, instanceId: undefined }, { at: new Date(f.clock.now().getTime() - minutesAgo * 60_000) }));
    }

    // Act
    const first = await housekeepingPass(f, 2);
    const second = await housekeepingPass(f, 2);

    // Assess
    assert.deepEqual(first.failedOverdue, ['demo/u2', 'demo/u3']);
    assert.deepEqual(second.failedOverdue, ['demo/u1']);
    assert.ok(f.store.all().every((ws) => ws.state === 'failed'));
  });
});
