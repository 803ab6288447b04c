/**
 * The fakes are shared by unit, handler and integration tests: their semantics must match the
 * production adapters' promises, so they are tested too.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TransientError, type LaunchRequest } from '../../../lambdas/core/index.js';
import {
  capacityError,
  FakeCatalog,
  FakeClock,
  FakeCompute,
  FakeHomes,
  FakeHostnames,
  FakeWorkspaceStore,
  makeDeps,
  makeWorkspace,
  T0,
  tagsOf,
  users,
} from '../../support/fakes.js';

const alice = { analysisId: 'demo', userId: 'alice' };

describe('FakeWorkspaceStore', () => {
  it('creates only when absent and replaces only at the expected version', async () => {
    // Prepare
    const store = new FakeWorkspaceStore();
    const ws = makeWorkspace('starting', { version: 1 });

    // Act
    const created = await store.put(ws, null);
    const createdAgain = await store.put(ws, null);
    const stale = await store.put({ ...ws, version: 2, state: 'failed' }, 0);
    const current = await store.put({ ...ws, version: 2, state: 'provisioning' }, 1);

    // Assess
    assert.deepEqual([created, createdAgain, stale, current], [true, false, false, true]);
    assert.equal(store.peek(alice)?.state, 'provisioning');
    assert.equal(store.peek(alice)?.version, 2);
  });

  it('hands out copies and drops undefined fields', async () => {
    // Prepare
    const store = new FakeWorkspaceStore();
    await store.put({ ...makeWorkspace('starting'), reason: undefined }, null);

    // Act
    const read = (await store.get(alice)) as { state: string };
    read.state = 'mutated';

    // Assess
    assert.equal(store.peek(alice)?.state, 'starting');
    assert.equal('reason' in store.peek(alice)!, false);
  });

  it('touches only a ready record matching the given workspaceId and generation, bumping its version', async () => {
    // Prepare
    const store = new FakeWorkspaceStore();
    const ready = makeWorkspace('ready', { version: 5 });
    store.seed(ready, makeWorkspace('starting', { userId: 'bob' }));
    const activity = { at: '2030-01-01T10:00:00.000Z', dueAt: '2030-01-01T10:30:00.000Z' };

    // Act
    const notReady = await store.touch({ analysisId: 'demo', userId: 'bob' }, activity);
    const missing = await store.touch({ analysisId: 'demo', userId: 'nobody' }, activity);
    const wrongId = await store.touch(alice, { ...activity, workspaceId: 'other' });
    const wrongGen = await store.touch(alice, { ...activity, generation: 9 });
    const touched = await store.touch(alice, { ...activity, workspaceId: ready.workspaceId, generation: ready.generation });

    // Assess
    assert.deepEqual([notReady, missing, wrongId, wrongGen], [undefined, undefined, undefined, undefined]);
    assert.equal(touched?.lastActivityAt, activity.at);
    assert.equal(touched?.dueAt, activity.dueAt);
    assert.equal(touched?.version, 6);
    assert.deepEqual(store.peek(alice), touched);
    assert.equal(store.count('touch'), 5);
  });

  it('finds a record by instance id and lists due records oldest first up to the limit', async () => {
    // Prepare
    const store = new FakeWorkspaceStore();
    const at = (m: number) => new Date(T0.getTime() + m * 60_000).toISOString();
    store.seed(
      makeWorkspace('starting', { userId: 'a', dueAt: at(3), instanceId: 'i-a' }),
      makeWorkspace('starting', { userId: 'b', dueAt: at(1) }),
      makeWorkspace('starting', { userId: 'c', dueAt: at(2) }),
      makeWorkspace('starting', { userId: 'd', dueAt: at(9) }),
      makeWorkspace('failed', { userId: 'e', dueAt: undefined }),
    );

    // Act
    const due = await store.findDue(at(3), 10);
    const limited = await store.findDue(at(3), 2);
    const byInstance = await store.findByInstance('i-a');
    const none = await store.findByInstance('i-zzz');

    // Assess
    assert.deepEqual(due.map((ws) => ws.userId), ['b', 'c', 'a']);
    assert.deepEqual(limited.map((ws) => ws.userId), ['b', 'c']);
    assert.equal(byInstance?.userId, 'a');
    assert.equal(none, undefined);
  });

  it('can be told to fail an operation once, and lets a test interleave a concurrent write', async () => {
    // Prepare
    const store = new FakeWorkspaceStore();
    const ws = makeWorkspace('starting', { version: 1 });
    store.seed(ws);
    store.failNext('get');
    store.beforePut = () => store.seed({ ...ws, version: 2 });

    // Act + Assess
    await assert.rejects(store.get(alice), TransientError);
    assert.ok(await store.get(alice));
    assert.equal(await store.put({ ...ws, version: 2 }, 1), false);
  });
});

describe('FakeCompute', () => {
  const request = (token: string, generation = 1): LaunchRequest => {
    const workspace = makeWorkspace('starting', { generation });
    return { workspace, clientToken: token, home: { homeId: 'h', created: true }, tags: tagsOf(workspace) };
  };

  it('launches once per client token and records every call', async () => {
    // Prepare
    const compute = new FakeCompute();

    // Act
    const a = await compute.launch(request('tok-1'));
    const b = await compute.launch(request('tok-1'));
    const c = await compute.launch(request('tok-2', 2));

    // Assess
    assert.equal(a.instanceId, b.instanceId);
    assert.notEqual(a.instanceId, c.instanceId);
    assert.equal(compute.launchCount, 2);
    assert.equal(compute.launchRequests.length, 3);
    assert.equal(compute.stateOf(a.instanceId), 'pending');
  });

  it('moves instances through start, stop and terminate and throws for unknown ids', async () => {
    // Prepare
    const compute = new FakeCompute();
    const { instanceId } = await compute.launch(request('tok'));

    // Act
    await compute.stop(instanceId);
    const afterStop = compute.stateOf(instanceId);
    await compute.start(instanceId, request('tok').workspace);
    const afterStart = compute.stateOf(instanceId);
    await compute.terminate(instanceId);

    // Assess
    assert.deepEqual([afterStop, afterStart, compute.stateOf(instanceId)], ['stopped', 'pending', 'terminated']);
    await assert.rejects(compute.stop('i-unknown'), /NotFound/);
    assert.deepEqual(compute.calls.map((c) => c.op), ['launch', 'stop', 'start', 'terminate', 'stop']);
  });

  it('fails as told: once, a number of times, or always', async () => {
    // Prepare
    const compute = new FakeCompute();
    compute.failNext('launch', capacityError());
    compute.failNext('listTagged', new Error('x'), 2);

    // Act + Assess
    await assert.rejects(compute.launch(request('t')), (error: unknown) => error instanceof TransientError && /InsufficientInstanceCapacity/.test(error.message));
    assert.ok((await compute.launch(request('t'))).instanceId);
    await assert.rejects(compute.listTagged());
    await assert.rejects(compute.listTagged());
    assert.equal((await compute.listTagged()).length, 1);
    compute.failAlways('stop');
    await assert.rejects(compute.stop('i-1'));
    await assert.rejects(compute.stop('i-1'));
  });

  it('lists every instance of its deployment whatever its state, and no other', async () => {
    // Prepare
    const compute = new FakeCompute('dep-a');
    const mine = compute.addInstance({ state: 'stopped', tags: { 'carrel:deployment': 'dep-a' } });
    const dead = compute.addInstance({ state: 'terminated', tags: { 'carrel:deployment': 'dep-a' } });
    compute.addInstance({ tags: { 'carrel:deployment': 'dep-b' } });

    // Act
    const listed = await compute.listTagged();

    // Assess
    assert.deepEqual(listed.map((i) => [i.instanceId, i.state]), [[mine, 'stopped'], [dead, 'terminated']]);
  });
});

describe('FakeHomes, FakeHostnames, FakeCatalog, FakeClock', () => {
  it('creates a home once per analysis and researcher', async () => {
    // Prepare
    const homes = new FakeHomes();
    // Act
    const first = await homes.ensure(alice);
    const again = await homes.ensure(alice);
    const bob = await homes.ensure({ analysisId: 'demo', userId: 'bob' });
    // Assess
    assert.deepEqual([first.created, again.created, bob.created], [true, false, true]);
    assert.equal(first.homeId, again.homeId);
    assert.notEqual(first.homeId, bob.homeId);
  });

  it('records assign and release and lists what is published', async () => {
    // Prepare
    const hostnames = new FakeHostnames('desk.example');
    // Act
    await hostnames.assign('ws-a.desk.example', '10.0.0.1:1');
    await hostnames.assign('ws-b.desk.example', '10.0.0.2:1');
    await hostnames.release('ws-a.desk.example');
    await hostnames.release('ws-a.desk.example');
    // Assess
    assert.deepEqual(await hostnames.list(), ['ws-b.desk.example']);
    assert.equal(hostnames.assigned.length, 2);
    assert.deepEqual(hostnames.released, ['ws-a.desk.example', 'ws-a.desk.example']);
    assert.equal(hostnames.deskDomain, 'desk.example');
  });

  it('serves the demo analyses and lists only those a user belongs to', async () => {
    // Prepare
    const catalog = new FakeCatalog();
    // Act
    const forAlice = await catalog.listFor(users.alice);
    const forBob = await catalog.listFor(users.bob);
    const census = await catalog.get('census-2021', users.alice);
    // Assess
    assert.deepEqual(forAlice.map((a) => a.analysisId), ['demo']);
    assert.deepEqual(forBob.map((a) => a.analysisId), ['demo', 'census-2021']);
    assert.deepEqual(census?.members, ['bob']);
  });

  it('moves only when told', () => {
    // Prepare
    const clock = new FakeClock();
    // Act
    const a = clock.now();
    const b = clock.advance(1_500);
    // Assess
    assert.equal(a.toISOString(), T0.toISOString());
    assert.equal(b.getTime() - a.getTime(), 1_500);
    assert.equal(clock.now().getTime(), b.getTime());
  });

  it('makeDeps builds fresh fakes and takes overrides', () => {
    // Prepare
    const clock = new FakeClock('2031-06-01T00:00:00.000Z');
    // Act
    const a = makeDeps();
    const b = makeDeps({ clock, deploymentId: 'dep-x' });
    // Assess
    assert.notEqual(a.store, b.store);
    assert.equal(b.clock, clock);
    assert.equal(b.deploymentId, 'dep-x');
    assert.equal(b.compute.deploymentId, 'dep-x');
  });
});
