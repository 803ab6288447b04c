import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  allowedTransitions,
  amend,
  canTransition,
  ConcurrentUpdateError,
  ConflictError,
  keyFromTags,
  transition,
  update,
  WORKSPACE_STATES,
  workspaceTags,
  type WorkspaceState,
} from '../../../lambdas/core/index.js';
import { FakeWorkspaceStore, makeWorkspace, T0, TEST_POLICY } from '../../support/fakes.js';

/** The lifecycle as the product defines it, written out independently of the implementation. */
const EXPECTED: Record<WorkspaceState, readonly WorkspaceState[]> = {
  starting: ['provisioning', 'ready', 'stopping', 'failed'],
  provisioning: ['ready', 'stopping', 'stopped', 'failed'],
  ready: ['stopping', 'stopped', 'failed'],
  stopping: ['stopped', 'terminating', 'failed'],
  stopped: ['starting', 'terminating', 'failed'],
  terminating: ['terminated', 'failed'],
  terminated: ['starting'],
  failed: ['starting', 'terminating', 'terminated'],
};

const MIN = 60_000;
const at = (ms: number) => new Date(T0.getTime() + ms).toISOString();

/** Deadline and due time a record entering `state` at T0 + 1 min must get under TEST_POLICY. */
const EXPECTED_TIMES: Record<WorkspaceState, { deadlineAt?: string; dueAt?: string }> = {
  starting: { deadlineAt: at(MIN + 5 * MIN), dueAt: at(MIN + 5 * MIN) },
  provisioning: { deadlineAt: at(MIN + 4 * MIN), dueAt: at(MIN + 4 * MIN) },
  // ready: no deadline; due when idle (the test patches no activity, so idle counts from entry)
  ready: { deadlineAt: undefined, dueAt: at(MIN + 30 * MIN) },
  stopping: { deadlineAt: at(MIN + 3 * MIN), dueAt: at(MIN + 3 * MIN) },
  stopped: { deadlineAt: at(MIN + 7 * 24 * 60 * MIN), dueAt: at(MIN + 7 * 24 * 60 * MIN) },
  terminating: { deadlineAt: at(MIN + 10 * MIN), dueAt: at(MIN + 10 * MIN) },
  terminated: { deadlineAt: undefined, dueAt: undefined },
  failed: { deadlineAt: undefined, dueAt: undefined },
};

describe('workspace state machine', () => {
  it('knows exactly the eight lifecycle states', () => {
    // Prepare
    const expected = Object.keys(EXPECTED).sort();
    // Act
    const states = [...WORKSPACE_STATES].sort();
    // Assess
    assert.deepEqual(states, expected);
  });

  for (const from of WORKSPACE_STATES) {
    it(`allows from ${from} exactly: ${EXPECTED[from].join(', ')}`, () => {
      // Prepare
      const expected = [...EXPECTED[from]].sort();
      // Act
      const allowed = [...allowedTransitions(from)].sort();
      // Assess
      assert.deepEqual(allowed, expected);
    });
  }

  describe('every (from, to) pair', () => {
    for (const from of WORKSPACE_STATES) {
      for (const to of WORKSPACE_STATES) {
        const allowed = EXPECTED[from].includes(to);
        it(`${from} -> ${to} is ${allowed ? 'allowed' : 'refused'}`, () => {
          // Prepare
          const ws = makeWorkspace(from, { version: 7, reason: from === 'failed' ? 'earlier failure' : undefined });
          const now = new Date(T0.getTime() + MIN);

          if (!allowed) {
            // Act + Assess
            assert.equal(canTransition(from, to), false);
            assert.throws(() => transition(ws, to, now, TEST_POLICY), (error: unknown) => {
              assert.ok(error instanceof ConflictError);
              assert.match(error.message, new RegExp(`from ${from} to ${to}`));
              return true;
            });
            return;
          }

          // Act
          const next = transition(ws, to, now, TEST_POLICY, { lastActivityAt: undefined });

          // Assess
          assert.equal(canTransition(from, to), true);
          assert.equal(next.state, to);
          assert.equal(next.version, 8, 'the version bumps by one');
          assert.equal(next.stateEnteredAt, now.toISOString());
          assert.equal(next.deadlineAt, EXPECTED_TIMES[to].deadlineAt, 'deadlineAt');
          assert.equal(next.dueAt, EXPECTED_TIMES[to].dueAt, 'dueAt');
          assert.equal(next.workspaceId, ws.workspaceId);
          assert.equal(next.generation, ws.generation, 'a transition alone never changes the generation');
          assert.equal(ws.state, from, 'the input record is not mutated');
        });
      }
    }
  });

  it('applies the patch with the transition and takes the idle clock from the patched activity', () => {
    // Prepare
    const ws = makeWorkspace('provisioning');
    const now = new Date(T0.getTime() + 2 * MIN);
    // Act
    const next = transition(ws, 'ready', now, TEST_POLICY, { lastActivityAt: at(MIN), address: '10.9.9.9:1' });
    // Assess
    assert.equal(next.address, '10.9.9.9:1');
    assert.equal(next.lastActivityAt, at(MIN));
    assert.equal(next.dueAt, at(MIN + 30 * MIN));
    assert.equal(next.deadlineAt, undefined);
  });

  it('amend keeps the state, bumps the version and recomputes dueAt', () => {
    // Prepare
    const ws = makeWorkspace('starting', { version: 4 });
    // Act
    const next = amend(ws, { instanceId: 'i-1' }, TEST_POLICY);
    // Assess
    assert.equal(next.state, 'starting');
    assert.equal(next.version, 5);
    assert.equal(next.instanceId, 'i-1');
    assert.equal(next.stateEnteredAt, ws.stateEnteredAt);
    assert.equal(next.dueAt, ws.deadlineAt);
  });
});

describe('update (read, decide, conditional write)', () => {
  it('re-reads and decides again when a concurrent writer wins', async () => {
    // Prepare
    const store = new FakeWorkspaceStore();
    const ws = makeWorkspace('ready', { version: 1 });
    store.seed(ws);
    let interfered = false;
    store.beforePut = () => {
      if (interfered) return;
      interfered = true;
      store.seed({ ...ws, version: 2, lastActivityAt: at(5 * MIN) });
    };
    const seen: number[] = [];
    // Act
    const result = await update({ store }, ws, (current) => {
      seen.push(current.version);
      return transition(current, 'stopping', T0, TEST_POLICY);
    });
    // Assess
    assert.deepEqual(seen, [1, 2]);
    assert.equal(result?.before.version, 2);
    assert.equal(result?.after.version, 3);
    assert.equal(store.peek(ws)?.state, 'stopping');
    assert.equal(store.peek(ws)?.lastActivityAt, at(5 * MIN), 'the concurrent write is not lost');
  });

  it('gives up with ConcurrentUpdateError when the record keeps changing', async () => {
    // Prepare
    const store = new FakeWorkspaceStore();
    const ws = makeWorkspace('ready', { version: 1 });
    store.seed(ws);
    store.beforePut = () => {
      const current = store.peek(ws)!;
      store.seed({ ...current, version: current.version + 1 });
    };
    // Act + Assess
    await assert.rejects(
      update({ store }, ws, (current) => transition(current, 'stopping', T0, TEST_POLICY)),
      ConcurrentUpdateError,
    );
    assert.equal(store.peek(ws)?.state, 'ready');
    assert.equal(store.count('put'), 5);
  });

  it('writes nothing when decide has nothing to do, or the record does not exist', async () => {
    // Prepare
    const store = new FakeWorkspaceStore();
    const ws = makeWorkspace('ready');
    store.seed(ws);
    // Act
    const nothing = await update({ store }, ws, () => undefined);
    const missing = await update({ store }, { analysisId: 'demo', userId: 'nobody' }, (current) => current);
    // Assess
    assert.equal(nothing, undefined);
    assert.equal(missing, undefined);
    assert.equal(store.writes, 0);
  });
});

describe('workspace tags', () => {
  it('carry the deployment, key, workspace and generation, and read back to the key and generation', () => {
    // Prepare
    const ws = makeWorkspace('starting', { generation: 4 });
    // Act
    const tags = workspaceTags(ws, 'dep-1');
    const key = keyFromTags(tags);
    // Assess
    assert.deepEqual(tags, {
      'carrel:deployment': 'dep-1',
      'carrel:analysis': 'demo',
      'carrel:user': 'alice',
      'carrel:workspace': ws.workspaceId,
      'carrel:generation': '4',
    });
    assert.deepEqual(key, { analysisId: 'demo', userId: 'alice', generation: 4 });
  });

  it('read back nothing from incomplete or malformed tags', () => {
    // Prepare
    const good = workspaceTags(makeWorkspace('starting'), 'dep-1');
    const broken: Record<string, string>[] = [
      { ...good, 'carrel:analysis': '' },
      { ...good, 'carrel:user': '' },
      { ...good, 'carrel:generation': '' },
      { ...good, 'carrel:generation': '0' },
      { ...good, 'carrel:generation': '1.5' },
      { 'carrel:deployment': 'dep-1' },
    ];
    // Act
    const keys = broken.map((tags) => keyFromTags(tags));
    // Assess
    assert.deepEqual(keys, broken.map(() => undefined));
  });
});
