import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { handleComputeEvent, housekeepingPass, openWorkspace, stopWorkspace, type Workspace } from '../../../lambdas/core/index.js';
import { makeDeps, RecordingProvisioner, tagsOf, users } from '../../support/fakes.js';

const alice = { analysisId: 'demo', userId: 'alice' };


describe('provisioning hand-off', () => {
  it('hands a workspace that entered provisioning to the provisioner, once, with its hostname and address', async () => {
    // Prepare
    const provisioner = new RecordingProvisioner();
    const f = makeDeps({ provisioner });
    const opened = await openWorkspace(f, users.alice, 'demo');

    // Act: the running event, then a duplicate of it
    await handleComputeEvent(f, { kind: 'running', instanceId: opened.instanceId!, address: '10.0.0.9:443' });
    await handleComputeEvent(f, { kind: 'running', instanceId: opened.instanceId!, address: '10.0.0.9:443' });

    // Assess
    assert.equal(provisioner.requests.length, 1);
    assert.equal(provisioner.requests[0].state, 'provisioning');
    assert.equal(provisioner.requests[0].address, '10.0.0.9:443');
    assert.equal(provisioner.requests[0].hostname, f.store.peek(alice)!.hostname);
  });

  it('fails the workspace with a reason and terminates the instance when the hand-off fails', async () => {
    // Prepare
    const provisioner = new RecordingProvisioner();
    provisioner.failure = new Error('Lambda invoke throttled');
    const f = makeDeps({ provisioner });
    const opened = await openWorkspace(f, users.alice, 'demo');

    // Act
    const outcome = await handleComputeEvent(f, { kind: 'running', instanceId: opened.instanceId!, address: '10.0.0.9:443' });

    // Assess
    const ws = f.store.peek(alice)!;
    assert.equal(outcome.state, 'failed');
    assert.equal(ws.state, 'failed');
    assert.match(ws.reason ?? '', /Could not start provisioning: Lambda invoke throttled/);
    assert.ok(f.compute.calls.some((c) => c.op === 'terminate' && c.instanceId === opened.instanceId));
  });

  it('does not ask for provisioning when compute prepares itself (no provisioner)', async () => {
    // Prepare
    const f = makeDeps();
    const opened = await openWorkspace(f, users.alice, 'demo');

    // Act
    const outcome = await handleComputeEvent(f, { kind: 'running', instanceId: opened.instanceId!, address: '10.0.0.9:443' });

    // Assess
    assert.deepEqual(outcome, { applied: true, state: 'provisioning' });
  });
});

describe('resume on compute that replaces instances', () => {
  it('adopts the replacement instance id a Fargate-like start returns', async () => {
    // Prepare: a stopped workspace whose compute starts a new task on resume
    const f = makeDeps();
    const opened = await openWorkspace(f, users.alice, 'demo');
    await handleComputeEvent(f, { kind: 'running', instanceId: opened.instanceId!, address: '10.0.0.9:443' });
    await handleComputeEvent(f, { kind: 'tool-ready', instanceId: opened.instanceId! });
    const stopping = await stopWorkspace(f, alice, 'test');
    await handleComputeEvent(f, { kind: 'stopped', instanceId: stopping!.instanceId! });
    f.compute.start = async () => ({ instanceId: 'task-replacement' });

    // Act
    const resumed = await openWorkspace(f, users.alice, 'demo');

    // Assess: the record names the replacement, and its events are found by it
    assert.equal(resumed.instanceId, 'task-replacement');
    assert.equal(f.store.peek(alice)!.instanceId, 'task-replacement');
    const outcome = await handleComputeEvent(f, { kind: 'running', instanceId: 'task-replacement', address: '10.0.0.10:443' });
    assert.deepEqual(outcome, { applied: true, state: 'provisioning' });
  });
});

describe('termination of compute that keeps nothing stopped', () => {
  it('finishes retention at terminated when compute says the instance is already gone', async () => {
    // Prepare: a stopped workspace past its retention, on compute whose stopped tasks are long gone
    const f = makeDeps();
    const opened = await openWorkspace(f, users.alice, 'demo');
    await handleComputeEvent(f, { kind: 'running', instanceId: opened.instanceId!, address: '10.0.0.9:443' });
    await handleComputeEvent(f, { kind: 'tool-ready', instanceId: opened.instanceId! });
    await stopWorkspace(f, alice, 'test');
    await handleComputeEvent(f, { kind: 'stopped', instanceId: opened.instanceId! });
    f.compute.terminate = async () => ({ gone: true });
    f.clock.advance(f.policy.stoppedRetentionMs + 1);

    // Act
    const report = await housekeepingPass(f);

    // Assess: terminated at once (not left to fail at the terminating deadline), home kept
    assert.deepEqual(report.terminated, ['demo/alice']);
    const ws = f.store.peek(alice)!;
    assert.equal(ws.state, 'terminated');
    assert.equal(ws.instanceId, undefined);
  });

  it('keeps a resumed workspace\'s replacement instance that the record has not adopted yet', async () => {
    // Prepare: a resume in flight whose replacement task already runs, still unrecorded
    const f = makeDeps();
    const opened = await openWorkspace(f, users.alice, 'demo');
    await handleComputeEvent(f, { kind: 'running', instanceId: opened.instanceId!, address: '10.0.0.9:443' });
    await handleComputeEvent(f, { kind: 'tool-ready', instanceId: opened.instanceId! });
    await stopWorkspace(f, alice, 'test');
    await handleComputeEvent(f, { kind: 'stopped', instanceId: opened.instanceId! });
    let replacement = '';
    f.compute.start = async (_id, ws) => {
      replacement = f.compute.addInstance({ state: 'running', tags: tagsOf(ws) });
      // housekeeping runs while the resume is between start() and the write that adopts the task
      const report = await housekeepingPass(f);
      assert.deepEqual(report.orphanInstances, []);
      return { instanceId: replacement };
    };

    // Act
    const resumed = await openWorkspace(f, users.alice, 'demo');

    // Assess
    assert.equal(resumed.instanceId, replacement);
    assert.notEqual(f.compute.stateOf(replacement), 'terminated');
  });
});
