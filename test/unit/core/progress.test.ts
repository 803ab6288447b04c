import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_ESTIMATES, describeWorkspace, transition, type StepStatus, type WorkspaceView } from '../../../lambdas/core/index.js';
import { FakeClock, makeWorkspace, T0, TEST_POLICY } from '../../support/fakes.js';

const MIN = 60_000;
const view = (ws: Parameters<typeof describeWorkspace>[0], now: Date = T0): WorkspaceView =>
  describeWorkspace(ws, now, TEST_POLICY, DEFAULT_ESTIMATES);
const statuses = (v: WorkspaceView): StepStatus[] => v.steps.map((step) => step.status);
const labels = (v: WorkspaceView): string[] => v.steps.map((step) => step.label);

describe('progress view', () => {
  it('names the steps Reserving, Starting <tool>, Connecting', () => {
    // Prepare
    const ws = makeWorkspace('starting');
    // Act
    const v = view(ws);
    // Assess
    assert.deepEqual(labels(v), ['Reserving', 'Starting Jupyter', 'Connecting']);
    assert.deepEqual(v.steps.map((s) => s.id), ['reserving', 'starting', 'connecting']);
  });

  it('says Resuming for a resumed workspace and names other tools', () => {
    // Prepare
    const resumed = makeWorkspace('starting', { resumed: true });
    const rstudio = makeWorkspace('starting', { tool: 'rstudio' });
    const other = makeWorkspace('starting', { tool: 'vscode' });
    // Act
    const views = [view(resumed), view(rstudio), view(other)];
    // Assess
    assert.deepEqual(labels(views[0]), ['Resuming', 'Starting Jupyter', 'Connecting']);
    assert.equal(views[0].resumed, true);
    assert.equal(labels(views[1])[1], 'Starting RStudio');
    assert.equal(labels(views[2])[1], 'Starting vscode');
  });

  const CASES: [Parameters<typeof makeWorkspace>[0], StepStatus[]][] = [
    ['starting', ['active', 'pending', 'pending']],
    ['provisioning', ['done', 'active', 'pending']],
    ['ready', ['done', 'done', 'active']],
    ['stopping', ['pending', 'pending', 'pending']],
    ['stopped', ['pending', 'pending', 'pending']],
    ['terminating', ['pending', 'pending', 'pending']],
    ['terminated', ['pending', 'pending', 'pending']],
  ];
  for (const [state, expected] of CASES) {
    it(`marks the steps ${expected.join('/')} while ${state}`, () => {
      // Prepare
      const ws = makeWorkspace(state);
      // Act
      const v = view(ws);
      // Assess
      assert.equal(v.state, state);
      assert.deepEqual(statuses(v), expected);
    });
  }

  it('marks the reserving step failed when the workspace failed before it ran', () => {
    // Prepare
    const ws = makeWorkspace('failed', { address: undefined, reason: 'Could not start the workspace: no capacity' });
    // Act
    const v = view(ws);
    // Assess
    assert.deepEqual(statuses(v), ['failed', 'pending', 'pending']);
    assert.equal(v.reason, 'Could not start the workspace: no capacity');
    assert.equal(v.estimatedSecondsLeft, 0);
    assert.equal(v.hostname, undefined);
  });

  it('marks the tool step failed when the workspace failed after it ran', () => {
    // Prepare
    const ws = makeWorkspace('failed', { address: '10.0.0.1:8443', hostname: 'ws-x.app.test', reason: 'Jupyter did not become ready in time' });
    // Act
    const v = view(ws);
    // Assess
    assert.deepEqual(statuses(v), ['done', 'failed', 'pending']);
    assert.equal(v.reason, 'Jupyter did not become ready in time');
    assert.equal(v.hostname, undefined, 'a hostname is shown only when ready');
  });

  it('estimates the time left from the step estimates, decreasing with the clock and never below 1 while in progress', () => {
    // Prepare
    const clock = new FakeClock();
    const starting = makeWorkspace('starting', {}, { at: clock.now() });
    const total = DEFAULT_ESTIMATES.reserving + DEFAULT_ESTIMATES.starting + DEFAULT_ESTIMATES.connecting;
    const seen: number[] = [];

    // Act: 2 minutes in starting, then 2 minutes in provisioning, one second at a time
    for (let s = 0; s <= 120; s++, clock.advance(1_000)) seen.push(view(starting, clock.now()).estimatedSecondsLeft);
    const provisioning = transition(starting, 'provisioning', clock.now(), TEST_POLICY);
    for (let s = 0; s <= 120; s++, clock.advance(1_000)) seen.push(view(provisioning, clock.now()).estimatedSecondsLeft);

    // Assess
    assert.equal(seen[0], total);
    assert.equal(seen[10], total - 10);
    assert.equal(seen[121], DEFAULT_ESTIMATES.starting + DEFAULT_ESTIMATES.connecting, 'provisioning starts with its own estimate');
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i] <= seen[i - 1], `time left went up at ${i}: ${seen[i - 1]} -> ${seen[i]}`);
    assert.ok(seen.every((s) => s >= 1), 'never below 1 while in progress');
    assert.ok(seen[0] > seen[seen.length - 1]);
  });

  it('has nothing left to estimate once ready or when not in progress', () => {
    // Prepare
    const states = ['ready', 'stopped', 'stopping', 'terminated'] as const;
    // Act
    const left = states.map((s) => view(makeWorkspace(s)).estimatedSecondsLeft);
    // Assess
    assert.deepEqual(left, [0, 0, 0, 0]);
  });

  it('shows the hostname and the idle stop and warning times when ready', () => {
    // Prepare
    const ws = makeWorkspace('ready', { lastActivityAt: new Date(T0.getTime() + 5 * MIN).toISOString() });
    // Act
    const v = view(ws, new Date(T0.getTime() + 10 * MIN));
    // Assess
    assert.equal(v.hostname, ws.hostname);
    assert.deepEqual(v.idle, {
      stopAt: new Date(T0.getTime() + 35 * MIN).toISOString(),
      warnAt: new Date(T0.getTime() + 35 * MIN - TEST_POLICY.idleWarningMs).toISOString(),
    });
  });

  it('puts the idle stop at now once the workspace is already idle', () => {
    // Prepare
    const ws = makeWorkspace('ready');
    const now = new Date(T0.getTime() + 45 * MIN);
    // Act
    const v = view(ws, now);
    // Assess
    assert.equal(v.idle?.stopAt, now.toISOString());
  });

  it('has no idle times unless ready', () => {
    // Prepare
    const states = ['starting', 'provisioning', 'stopping', 'stopped', 'failed'] as const;
    // Act
    const idle = states.map((s) => view(makeWorkspace(s)).idle);
    // Assess
    assert.deepEqual(idle, [undefined, undefined, undefined, undefined, undefined]);
  });
});
