import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  handleComputeEvent,
  NotAllowedError,
  NotFoundError,
  openWorkspace,
  stopByUser,
  type LaunchRequest,
} from '../../../lambdas/core/index.js';
import { capacityError, DEPLOYMENT_ID, makeDeps, makeWorkspace, openToReady, plain, seedWorkspace, TEST_POLICY, users } from '../../support/fakes.js';

const alice = { analysisId: 'demo', userId: 'alice' };
const HOST_LABEL = /^ws-[a-z0-9]{16}$/;

describe('open', () => {
  it('first open claims the workspace and launches once with the idempotency token, home and tags', async () => {
    // Prepare
    const f = makeDeps();

    // Act
    const ws = await openWorkspace(f, users.alice, 'demo');

    // Assess
    assert.equal(ws.state, 'starting');
    assert.equal(ws.generation, 1);
    assert.equal(ws.resumed, false);
    assert.match(ws.hostLabel!, HOST_LABEL);
    assert.match(ws.workspaceId, /^[a-z0-9]{20}$/);
    assert.equal(ws.deadlineAt, new Date(f.clock.now().getTime() + TEST_POLICY.deadlines.starting).toISOString());
    assert.equal(f.compute.launchRequests.length, 1);
    const request: LaunchRequest = f.compute.launchRequests[0];
    assert.equal(request.clientToken, `${ws.workspaceId}-1`);
    assert.deepEqual(request.tags, {
      'carrel:deployment': DEPLOYMENT_ID,
      'carrel:analysis': 'demo',
      'carrel:user': 'alice',
      'carrel:workspace': ws.workspaceId,
      'carrel:generation': '1',
      'carrel:home': 'home-demo-alice',
    });
    assert.deepEqual(request.home, { homeId: 'home-demo-alice', created: true });
    assert.equal(ws.instanceId, [...f.compute.instances.keys()][0], 'the instance id is recorded');
    assert.deepEqual(f.store.peek(alice), plain(ws));
  });

  it('a second open while starting or ready returns the record without launching', async () => {
    // Prepare
    const f = makeDeps();
    const first = await openWorkspace(f, users.alice, 'demo');

    // Act
    const again = await openWorkspace(f, users.alice, 'demo');

    // Assess
    assert.deepEqual(again, first);
    assert.equal(f.compute.launchRequests.length, 1);

    // Prepare
    await handleComputeEvent(f, { kind: 'running', instanceId: first.instanceId!, address: '10.0.0.1:8443' });
    await handleComputeEvent(f, { kind: 'tool-ready', instanceId: first.instanceId! });
    const ready = f.store.peek(alice)!;

    // Act
    const whileReady = await openWorkspace(f, users.alice, 'demo');

    // Assess
    assert.equal(whileReady.state, 'ready');
    assert.deepEqual(whileReady, ready);
    assert.equal(f.compute.launchRequests.length, 1);
    assert.equal(f.compute.calls.filter((c) => c.op !== 'launch').length, 0);
  });

  it('many concurrent opens launch exactly once', async () => {
    // Prepare
    const f = makeDeps();

    // Act
    const results = await Promise.all(Array.from({ length: 25 }, () => openWorkspace(f, users.alice, 'demo')));

    // Assess
    assert.equal(f.compute.launchRequests.length, 1);
    assert.equal(f.compute.launchCount, 1);
    assert.equal(new Set(results.map((ws) => ws.workspaceId)).size, 1);
    assert.ok(results.every((ws) => ws.generation === 1 && ws.state === 'starting'));
  });

  it('gives each researcher their own workspace for the same analysis', async () => {
    // Prepare
    const f = makeDeps();

    // Act
    const a = await openWorkspace(f, users.alice, 'demo');
    const b = await openWorkspace(f, users.bob, 'demo');

    // Assess
    assert.notEqual(a.workspaceId, b.workspaceId);
    assert.notEqual(a.hostLabel, b.hostLabel);
    assert.notEqual(a.instanceId, b.instanceId);
    assert.equal(f.compute.launchCount, 2);
  });

  it('refuses a non-member with NotAllowedError and writes nothing', async () => {
    // Prepare
    const f = makeDeps();

    // Act + Assess
    await assert.rejects(openWorkspace(f, users.alice, 'census-2021'), (error: unknown) => {
      assert.ok(error instanceof NotAllowedError);
      assert.match(error.message, /census-2021/);
      return true;
    });
    assert.equal(f.store.size, 0);
    assert.equal(f.store.writes, 0);
    assert.equal(f.compute.calls.length, 0);
  });

  it('refuses an unknown analysis with NotFoundError and writes nothing', async () => {
    // Prepare
    const f = makeDeps();

    // Act + Assess
    await assert.rejects(openWorkspace(f, users.alice, 'no-such-analysis'), NotFoundError);
    assert.equal(f.store.size, 0);
    assert.equal(f.store.writes, 0);
    assert.equal(f.compute.calls.length, 0);
  });

  it('a launch failure leaves the workspace failed with the reason and nothing running', async () => {
    // Prepare
    const f = makeDeps();
    f.compute.failNext('launch', capacityError());

    // Act
    const ws = await openWorkspace(f, users.alice, 'demo');

    // Assess
    assert.equal(ws.state, 'failed');
    assert.match(ws.reason!, /^Could not start the workspace: InsufficientInstanceCapacity/);
    assert.equal(ws.dueAt, undefined);
    assert.deepEqual(f.store.peek(alice), plain(ws));
    assert.equal(f.compute.running().length, 0);
    assert.equal(f.hostnames.records.size, 0);
  });

  it('a home that cannot be prepared fails the open without launching', async () => {
    // Prepare
    const f = makeDeps();
    f.homes.failNext(new Error('access point limit reached'));

    // Act
    const ws = await openWorkspace(f, users.alice, 'demo');

    // Assess
    assert.equal(ws.state, 'failed');
    assert.match(ws.reason!, /access point limit reached/);
    assert.equal(f.compute.launchRequests.length, 0);
  });

  it('open on a failed workspace relaunches with generation + 1 and a new host label', async () => {
    // Prepare
    const f = makeDeps();
    f.compute.failNext('launch', capacityError());
    const failed = await openWorkspace(f, users.alice, 'demo');

    // Act
    const retried = await openWorkspace(f, users.alice, 'demo');

    // Assess
    assert.equal(retried.state, 'starting');
    assert.equal(retried.generation, failed.generation + 1);
    assert.equal(retried.workspaceId, failed.workspaceId);
    assert.notEqual(retried.hostLabel, failed.hostLabel);
    assert.match(retried.hostLabel!, HOST_LABEL);
    assert.equal(retried.reason, undefined);
    assert.equal(f.compute.launchRequests.at(-1)?.clientToken, `${failed.workspaceId}-2`);
    assert.equal(f.compute.launchCount, 1);
    assert.deepEqual(f.compute.launchRequests.at(-1)?.home, { homeId: 'home-demo-alice', created: false });
  });

  it('open on a terminated workspace relaunches with generation + 1', async () => {
    // Prepare
    const f = makeDeps();
    const terminated = seedWorkspace(
      f,
      makeWorkspace('terminated', { generation: 3, instanceId: undefined, hostname: undefined, address: undefined }),
    );

    // Act
    const ws = await openWorkspace(f, users.alice, 'demo');

    // Assess
    assert.equal(ws.state, 'starting');
    assert.equal(ws.generation, 4);
    assert.notEqual(ws.hostLabel, terminated.hostLabel);
    assert.equal(f.compute.launchRequests[0].clientToken, `${terminated.workspaceId}-4`);
    assert.equal(f.compute.launchRequests[0].tags['carrel:generation'], '4');
  });

  it('open on a stopped workspace resumes its instance instead of launching', async () => {
    // Prepare
    const f = makeDeps();
    const ready = await openToReady(f, users.alice, 'demo');
    await stopByUser(f, users.alice, alice);
    await handleComputeEvent(f, { kind: 'stopped', instanceId: ready.instanceId! });
    f.clock.advance(60_000);

    // Act
    const resumed = await openWorkspace(f, users.alice, 'demo');

    // Assess
    assert.equal(resumed.state, 'starting');
    assert.equal(resumed.resumed, true);
    assert.equal(resumed.generation, ready.generation + 1);
    assert.equal(resumed.instanceId, ready.instanceId);
    assert.notEqual(resumed.hostLabel, ready.hostLabel);
    assert.equal(resumed.hostname, undefined);
    assert.equal(resumed.reason, undefined);
    assert.deepEqual(f.compute.idsOf('start'), [ready.instanceId]);
    assert.equal(f.compute.launchRequests.length, 1, 'no second launch');
    assert.deepEqual(f.store.peek(alice), plain(resumed));
  });

  it('a resume that fails leaves the workspace failed and the instance terminated', async () => {
    // Prepare
    const f = makeDeps();
    const ready = await openToReady(f, users.alice, 'demo');
    await stopByUser(f, users.alice, alice);
    await handleComputeEvent(f, { kind: 'stopped', instanceId: ready.instanceId! });
    f.compute.failNext('start', capacityError());

    // Act
    const ws = await openWorkspace(f, users.alice, 'demo');

    // Assess
    assert.equal(ws.state, 'failed');
    assert.match(ws.reason!, /^Could not resume the workspace: InsufficientInstanceCapacity/);
    assert.equal(f.compute.stateOf(ready.instanceId!), 'terminated');
  });

  it('a stop that overtakes the launch still stops the instance once the launch returns', async () => {
    // Prepare
    const f = makeDeps();
    const launch = f.compute.launch.bind(f.compute);
    f.compute.launch = async (request) => {
      const out = await launch(request);
      await stopByUser(f, users.alice, alice); // the researcher stops before the launch is recorded
      return out;
    };

    // Act
    const ws = await openWorkspace(f, users.alice, 'demo');

    // Assess
    assert.equal(ws.state, 'stopping');
    assert.ok(ws.instanceId);
    assert.deepEqual(f.compute.idsOf('stop'), [ws.instanceId]);
    assert.equal(f.compute.running().length, 0);
  });

  it('a launch whose record moved on to another generation meanwhile is terminated at once', async () => {
    // Prepare
    const f = makeDeps();
    const launch = f.compute.launch.bind(f.compute);
    f.compute.launch = async (request) => {
      const out = await launch(request);
      const current = f.store.peek(alice)!;
      f.store.seed({ ...current, generation: current.generation + 1, version: current.version + 1 });
      return out;
    };

    // Act
    await openWorkspace(f, users.alice, 'demo');

    // Assess
    const [instanceId] = f.compute.instances.keys();
    assert.equal(f.store.peek(alice)?.instanceId, undefined);
    assert.deepEqual(f.compute.idsOf('terminate'), [instanceId]);
  });
});
