import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { handleComputeEvent, openWorkspace, stopByUser } from '../../../lambdas/core/index.js';
import { DESK_DOMAIN, makeDeps, makeWorkspace, openToReady, seedWorkspace, tagsOf, TEST_POLICY, users } from '../../support/fakes.js';

const alice = { analysisId: 'demo', userId: 'alice' };

describe('compute events', () => {
  it('running moves starting to provisioning and publishes the hostname at the address', async () => {
    // Prepare
    const f = makeDeps();
    const opened = await openWorkspace(f, users.alice, 'demo');
    f.clock.advance(20_000);

    // Act
    const outcome = await handleComputeEvent(f, { kind: 'running', instanceId: opened.instanceId!, address: '10.0.0.9:8443' });

    // Assess
    const ws = f.store.peek(alice)!;
    const hostname = `${opened.hostLabel}.${DESK_DOMAIN}`;
    assert.deepEqual(outcome, { applied: true, state: 'provisioning' });
    assert.equal(ws.state, 'provisioning');
    assert.equal(ws.hostname, hostname);
    assert.equal(ws.address, '10.0.0.9:8443');
    assert.equal(ws.stateEnteredAt, f.clock.iso());
    assert.equal(ws.deadlineAt, new Date(f.clock.now().getTime() + TEST_POLICY.deadlines.provisioning).toISOString());
    assert.deepEqual(f.hostnames.assigned, [{ hostname, address: '10.0.0.9:8443' }]);
    assert.equal(f.hostnames.records.get(hostname), '10.0.0.9:8443');
  });

  it('tool-ready moves provisioning to ready and starts the idle clock', async () => {
    // Prepare
    const f = makeDeps();
    const opened = await openWorkspace(f, users.alice, 'demo');
    await handleComputeEvent(f, { kind: 'running', instanceId: opened.instanceId!, address: '10.0.0.9:8443' });
    f.clock.advance(5_000);

    // Act
    const outcome = await handleComputeEvent(f, { kind: 'tool-ready', instanceId: opened.instanceId! });

    // Assess
    const ws = f.store.peek(alice)!;
    assert.deepEqual(outcome, { applied: true, state: 'ready' });
    assert.equal(ws.lastActivityAt, f.clock.iso());
    assert.equal(ws.deadlineAt, undefined);
    assert.equal(ws.dueAt, new Date(f.clock.now().getTime() + TEST_POLICY.idleTimeoutMs).toISOString());
  });

  it('a duplicate running or tool-ready event changes nothing', async () => {
    // Prepare
    const f = makeDeps();
    const ready = await openToReady(f, users.alice, 'demo');

    // Act
    const running = await handleComputeEvent(f, { kind: 'running', instanceId: ready.instanceId!, address: '10.0.0.99:1' });
    const toolReady = await handleComputeEvent(f, { kind: 'tool-ready', instanceId: ready.instanceId! });

    // Assess
    assert.equal(running.applied, false);
    assert.equal(toolReady.applied, false);
    assert.deepEqual(f.store.peek(alice), ready);
    assert.equal(f.hostnames.assigned.length, 1);
  });

  it('a tool-ready that overtakes running is ignored without an address, and completes the start with one', async () => {
    // Prepare
    const f = makeDeps();
    const opened = await openWorkspace(f, users.alice, 'demo');

    // Act
    const bare = await handleComputeEvent(f, { kind: 'tool-ready', instanceId: opened.instanceId! });

    // Assess
    assert.equal(bare.applied, false);
    assert.equal(f.store.peek(alice)?.state, 'starting', 'never ready without a published hostname');

    // Act
    const withAddress = await handleComputeEvent(f, { kind: 'tool-ready', instanceId: opened.instanceId!, address: '10.0.0.5:8443' });

    // Assess
    const ws = f.store.peek(alice)!;
    assert.deepEqual(withAddress, { applied: true, state: 'ready' });
    assert.equal(ws.hostname, `${opened.hostLabel}.${DESK_DOMAIN}`);
    assert.equal(f.hostnames.records.get(ws.hostname!), '10.0.0.5:8443');
    assert.equal(ws.lastActivityAt, f.clock.iso());
  });

  it('stopped completes a stop and releases the hostname', async () => {
    // Prepare
    const f = makeDeps();
    const ready = await openToReady(f, users.alice, 'demo');
    await stopByUser(f, users.alice, alice);
    f.hostnames.records.set(ready.hostname!, ready.address!); // as if the release had not landed yet

    // Act
    const outcome = await handleComputeEvent(f, { kind: 'stopped', instanceId: ready.instanceId! });

    // Assess
    const ws = f.store.peek(alice)!;
    assert.deepEqual(outcome, { applied: true, state: 'stopped' });
    assert.equal(ws.instanceId, ready.instanceId, 'the instance is kept for a quick resume');
    assert.equal(ws.dueAt, new Date(f.clock.now().getTime() + TEST_POLICY.stoppedRetentionMs).toISOString());
    assert.equal(f.hostnames.has(ready.hostname!), false);
  });

  it('stopped on a ready workspace (stopped outside carrel) records why and releases the hostname', async () => {
    // Prepare
    const f = makeDeps();
    const ready = await openToReady(f, users.alice, 'demo');

    // Act
    await handleComputeEvent(f, { kind: 'stopped', instanceId: ready.instanceId! });

    // Assess
    const ws = f.store.peek(alice)!;
    assert.equal(ws.state, 'stopped');
    assert.equal(ws.reason, 'The workspace was stopped outside carrel');
    assert.equal(f.hostnames.has(ready.hostname!), false);
  });

  it('terminated completes a termination and clears the instance', async () => {
    // Prepare
    const f = makeDeps();
    const ws = seedWorkspace(f, makeWorkspace('terminating'));

    // Act
    const outcome = await handleComputeEvent(f, { kind: 'terminated', instanceId: ws.instanceId! });

    // Assess
    const after = f.store.peek(alice)!;
    assert.deepEqual(outcome, { applied: true, state: 'terminated' });
    assert.equal(after.instanceId, undefined);
    assert.equal(after.hostname, undefined);
    assert.equal(after.address, undefined);
    assert.equal(after.dueAt, undefined);
    assert.ok(f.hostnames.released.includes(ws.hostname!));
  });

  it('terminated on a running workspace fails it with a reason and releases the hostname', async () => {
    // Prepare
    const f = makeDeps();
    const ready = await openToReady(f, users.alice, 'demo');

    // Act
    await handleComputeEvent(f, { kind: 'terminated', instanceId: ready.instanceId! });

    // Assess
    const ws = f.store.peek(alice)!;
    assert.equal(ws.state, 'failed');
    assert.equal(ws.reason, 'The workspace instance was terminated unexpectedly');
    assert.equal(f.hostnames.has(ready.hostname!), false);
  });

  it('failed fails the workspace with the reported reason and terminates the instance', async () => {
    // Prepare
    const f = makeDeps();
    const opened = await openWorkspace(f, users.alice, 'demo');
    await handleComputeEvent(f, { kind: 'running', instanceId: opened.instanceId!, address: '10.0.0.9:8443' });

    // Act
    const outcome = await handleComputeEvent(f, { kind: 'failed', instanceId: opened.instanceId!, reason: 'Jupyter exited with code 1' });

    // Assess
    const ws = f.store.peek(alice)!;
    assert.deepEqual(outcome, { applied: true, state: 'failed' });
    assert.equal(ws.reason, 'Jupyter exited with code 1');
    assert.deepEqual(f.compute.idsOf('terminate'), [opened.instanceId]);
    assert.equal(f.compute.running().length, 0);
    assert.equal(f.hostnames.has(ws.hostname!), false);
  });

  it('an event for an unknown instance is ignored and logged', async () => {
    // Prepare
    const f = makeDeps();
    const opened = await openWorkspace(f, users.alice, 'demo');

    // Act
    const outcome = await handleComputeEvent(f, { kind: 'running', instanceId: 'i-stranger', address: '10.6.6.6:1' });

    // Assess
    assert.deepEqual(outcome, { applied: false, note: 'unknown instance' });
    const [entry] = f.log.find('unknown instance', 'warn');
    assert.deepEqual(entry?.data, { kind: 'running', instanceId: 'i-stranger' });
    assert.deepEqual(f.store.peek(alice), opened);
    assert.equal(f.hostnames.assigned.length, 0);
  });

  it('an event that overtakes the write recording the instance finds the record by its tags', async () => {
    // Prepare
    const f = makeDeps();
    const starting = seedWorkspace(f, makeWorkspace('starting', { generation: 2 }));
    const instanceId = f.compute.addInstance({ state: 'running', tags: tagsOf(starting) });

    // Act
    const outcome = await handleComputeEvent(f, { kind: 'running', instanceId, address: '10.0.0.3:8443' }, tagsOf(starting));

    // Assess
    const ws = f.store.peek(alice)!;
    assert.deepEqual(outcome, { applied: true, state: 'provisioning' });
    assert.equal(ws.instanceId, instanceId);
    assert.equal(f.hostnames.records.get(ws.hostname!), '10.0.0.3:8443');
  });

  it('a failed event found by tags terminates the instance the record did not know yet', async () => {
    // Prepare
    const f = makeDeps();
    const starting = seedWorkspace(f, makeWorkspace('starting'));
    const instanceId = f.compute.addInstance({ state: 'running', tags: tagsOf(starting) });

    // Act
    await handleComputeEvent(f, { kind: 'failed', instanceId, reason: 'bootstrap failed' }, tagsOf(starting));

    // Assess
    assert.equal(f.store.peek(alice)?.state, 'failed');
    assert.equal(f.compute.stateOf(instanceId), 'terminated');
  });

  it('events of an earlier generation are ignored', async () => {
    // Prepare
    const f = makeDeps();
    const current = seedWorkspace(f, makeWorkspace('starting', { generation: 3 }));
    const oldTags = tagsOf({ ...current, generation: 2 });
    const oldInstance = f.compute.addInstance({ state: 'running', tags: oldTags });

    // Act
    const outcomes = [
      await handleComputeEvent(f, { kind: 'running', instanceId: oldInstance, address: '10.0.0.4:1' }, oldTags),
      await handleComputeEvent(f, { kind: 'tool-ready', instanceId: oldInstance }, oldTags),
      await handleComputeEvent(f, { kind: 'failed', instanceId: oldInstance, reason: 'old' }, oldTags),
      await handleComputeEvent(f, { kind: 'terminated', instanceId: oldInstance }, oldTags),
    ];

    // Assess
    assert.ok(outcomes.every((o) => !o.applied));
    assert.deepEqual(f.store.peek(alice), current);
    assert.equal(f.hostnames.assigned.length, 0);
  });

  it('a hostname that cannot be published fails the start and terminates the instance', async () => {
    // Prepare
    const f = makeDeps();
    const opened = await openWorkspace(f, users.alice, 'demo');
    f.hostnames.failNext('assign', new Error('Route 53 throttled'));

    // Act
    await handleComputeEvent(f, { kind: 'running', instanceId: opened.instanceId!, address: '10.0.0.9:8443' });

    // Assess
    const ws = f.store.peek(alice)!;
    assert.equal(ws.state, 'failed');
    assert.match(ws.reason!, /Could not publish the workspace address: Route 53 throttled/);
    assert.equal(f.compute.stateOf(opened.instanceId!), 'terminated');
  });

  it('a start that fails while its hostname is being published leaves no published name behind', async () => {
    // Prepare: the tool fails (another event) while Route 53 is still taking the name
    const f = makeDeps();
    const opened = await openWorkspace(f, users.alice, 'demo');
    const hostname = `${opened.hostLabel}.${DESK_DOMAIN}`;
    f.hostnames.whileNextAssign(async () => {
      await handleComputeEvent(f, { kind: 'failed', instanceId: opened.instanceId!, reason: 'Jupyter exited with code 1' });
    });

    // Act
    const outcome = await handleComputeEvent(f, { kind: 'running', instanceId: opened.instanceId!, address: '10.0.0.9:8443' });

    // Assess
    assert.equal(outcome.applied, false);
    assert.equal(f.store.peek(alice)!.state, 'failed');
    assert.equal(f.hostnames.has(hostname), false);
    assert.deepEqual(f.hostnames.released, [hostname]);
  });

  it('a duplicate running event that loses the race keeps the name the record holds', async () => {
    // Prepare: the same running event is delivered twice at once
    const f = makeDeps();
    const opened = await openWorkspace(f, users.alice, 'demo');
    const hostname = `${opened.hostLabel}.${DESK_DOMAIN}`;
    const running = { kind: 'running', instanceId: opened.instanceId!, address: '10.0.0.9:8443' } as const;
    f.hostnames.whileNextAssign(async () => {
      await handleComputeEvent(f, running);
    });

    // Act
    const outcome = await handleComputeEvent(f, running);

    // Assess
    assert.equal(outcome.applied, false);
    assert.equal(f.store.peek(alice)!.state, 'provisioning');
    assert.equal(f.hostnames.has(hostname), true);
    assert.deepEqual(f.hostnames.released, []);
  });
});
