import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openWorkspace } from '../../lambdas/core/index.js';
import { makeComputeEventsHandler, makeHousekeepingHandler } from '../../lambdas/handlers/app.js';
import { makeDeps, makeWorkspace, tagsOf, users } from '../support/fakes.js';

describe('compute-events handler', () => {
  it('advances the workspace from an EventBridge event with a normalized detail', async () => {
    // Prepare
    const deps = makeDeps();
    const opened = await openWorkspace(deps, users.alice, 'demo');
    const handler = makeComputeEventsHandler(deps);
    // Act
    const outcome = await handler({ 'detail-type': 'carrel compute event', source: 'carrel', detail: { event: { kind: 'running', instanceId: opened.instanceId, address: '10.0.0.9:8443' } } });
    // Assess
    assert.deepEqual(outcome, { applied: true, state: 'provisioning' });
    assert.equal(deps.store.peek(opened)?.address, '10.0.0.9:8443');
  });

  it('accepts the bare detail with tags (the local supervisor)', async () => {
    // Prepare
    const deps = makeDeps();
    const ws = makeWorkspace('starting');
    deps.store.seed(ws);
    // Act
    const outcome = await makeComputeEventsHandler(deps)({ event: { kind: 'running', instanceId: 'i-new', address: '127.0.0.1:9000' }, tags: tagsOf(ws) });
    // Assess
    assert.equal(outcome.applied, true);
    assert.equal(deps.store.peek(ws)?.instanceId, 'i-new');
  });

  for (const [what, input] of [
    ['an unknown kind', { detail: { event: { kind: 'exploded', instanceId: 'i-1' } } }],
    ['a missing instance id', { detail: { event: { kind: 'stopped' } } }],
    ['no event at all', { detail: {} }],
    ['a running event without an address', { detail: { event: { kind: 'running', instanceId: 'i-1' } } }],
  ] as const) {
    it(`drops ${what} with a logged error and touches nothing`, async () => {
      // Prepare
      const deps = makeDeps();
      // Act
      const outcome = await makeComputeEventsHandler(deps)(input);
      // Assess
      assert.equal(outcome.applied, false);
      assert.match(outcome.note ?? '', /^invalid event: detail/);
      assert.equal(deps.log.find('compute event dropped', 'error').length, 1);
      assert.deepEqual(deps.store.ops, []);
    });
  }
});

describe('housekeeping handler', () => {
  it('runs one housekeeping pass and returns its report', async () => {
    // Prepare
    const deps = makeDeps();
    const idle = makeWorkspace('ready');
    deps.store.seed(idle);
    deps.clock.advance(deps.policy.idleTimeoutMs + 1_000);
    // Act
    const report = await makeHousekeepingHandler(deps)({ source: 'aws.events', 'detail-type': 'Scheduled Event' });
    // Assess
    assert.deepEqual(report.stoppedIdle, ['demo/alice']);
    assert.equal(deps.store.peek(idle)?.state, 'stopping');
  });
});
