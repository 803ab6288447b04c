import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConflictError, ConcurrentUpdateError } from '../../../../lambdas/core/errors.js';
import {
  allowedRunTransitions,
  canTransitionRun,
  DEFAULT_RUN_POLICY,
  isTerminalRunState,
  RUN_STATES,
  transitionRun,
  updateRun,
  type Run,
  type RunState,
} from '../../../../lambdas/core/runs/index.js';
import { T0 } from '../../../support/fakes.js';
import { FakeRunStore, KEY } from '../../../support/run-fakes.js';

/** The run lifecycle as the product defines it, written out independently of the implementation. */
const EXPECTED: Record<RunState, readonly RunState[]> = {
  archiving: ['submitted', 'failed'],
  submitted: ['code-review', 'failed'],
  'code-review': ['building', 'rejected', 'failed'],
  building: ['running', 'failed'],
  running: ['collecting', 'failed'],
  collecting: ['checking', 'failed'],
  checking: ['output-review', 'failed'],
  'output-review': ['released', 'withheld', 'failed'],
  released: [],
  withheld: [],
  rejected: [],
  failed: [],
};

const MIN = 60_000;
const HOUR = 60 * MIN;
/** Deadline of each state under DEFAULT_RUN_POLICY, entered at T0. */
const EXPECTED_DEADLINE: Record<RunState, number | undefined> = {
  archiving: 15 * MIN,
  submitted: 15 * MIN,
  'code-review': 7 * 24 * HOUR,
  building: HOUR,
  running: 12 * HOUR,
  collecting: 30 * MIN,
  checking: 30 * MIN,
  'output-review': 7 * 24 * HOUR,
  released: undefined,
  withheld: undefined,
  rejected: undefined,
  failed: undefined,
};

function run(state: RunState, extra: Partial<Run> = {}): Run {
  return {
    ...KEY,
    state,
    version: 3,
    submittedBy: 'alice',
    description: 'd',
    manifestDigest: 'a'.repeat(64),
    objects: { archiveKey: 'a', manifestKey: 'm' },
    decisions: [],
    createdAt: T0.toISOString(),
    stateEnteredAt: T0.toISOString(),
    deadlineAt: T0.toISOString(),
    taskToken: 'token-of-the-state-left',
    ...extra,
  };
}

describe('run state machine', () => {
  it('knows exactly the twelve run states', () => {
    // Prepare
    const expected = Object.keys(EXPECTED).sort();
    // Act
    const states = [...RUN_STATES].sort();
    // Assess
    assert.deepEqual(states, expected);
  });

  for (const from of RUN_STATES) {
    it(`allows from ${from} exactly: ${EXPECTED[from].join(', ') || 'nothing (terminal)'}`, () => {
      // Prepare
      const expected = [...EXPECTED[from]].sort();
      // Act
      const allowed = [...allowedRunTransitions(from)].sort();
      // Assess
      assert.deepEqual(allowed, expected);
      assert.equal(isTerminalRunState(from), expected.length === 0);
      for (const to of RUN_STATES) assert.equal(canTransitionRun(from, to), expected.includes(to), `${from} -> ${to}`);
    });

    for (const to of RUN_STATES) {
      if (EXPECTED[from].includes(to)) {
        it(`${from} -> ${to} stamps the entry time, the deadline, bumps the version and drops the old task token`, () => {
          // Prepare
          const before = run(from);
          // Act
          const after = transitionRun(before, to, T0, DEFAULT_RUN_POLICY);
          // Assess
          assert.equal(after.state, to);
          assert.equal(after.version, 4);
          assert.equal(after.stateEnteredAt, T0.toISOString());
          const ms = EXPECTED_DEADLINE[to];
          assert.equal(after.deadlineAt, ms === undefined ? undefined : new Date(T0.getTime() + ms).toISOString());
          assert.equal('deadlineAt' in after, ms !== undefined);
          assert.equal(after.taskToken, undefined);
        });
      } else {
        it(`${from} -> ${to} is refused with a ConflictError`, () => {
          assert.throws(() => transitionRun(run(from), to, T0, DEFAULT_RUN_POLICY), ConflictError);
        });
      }
    }
  }

  it('a patch applied with the transition keeps the token it sets', () => {
    // Act
    const after = transitionRun(run('submitted'), 'code-review', T0, DEFAULT_RUN_POLICY, { taskToken: 'new' });
    // Assess
    assert.equal(after.taskToken, 'new');
  });
});

describe('updateRun (read-decide-write)', () => {
  it('re-reads and decides again when a conditional write loses', async () => {
    // Prepare: a store whose first put loses to a concurrent writer
    const store = new FakeRunStore();
    await store.put(run('submitted'), null);
    const realPut = store.put.bind(store);
    let puts = 0;
    store.put = async (next, expected) => {
      if (puts++ === 0) await realPut({ ...(await store.get(KEY))!, version: 4, description: 'other writer' }, 3);
      return realPut(next, expected);
    };
    const seen: number[] = [];
    // Act
    const result = await updateRun(store, KEY, (current) => {
      seen.push(current.version);
      return transitionRun(current, 'code-review', T0, DEFAULT_RUN_POLICY);
    });
    // Assess
    assert.deepEqual(seen, [3, 4]);
    assert.equal(result?.after.state, 'code-review');
    assert.equal(store.peek(KEY).description, 'other writer');
  });

  it('gives up with ConcurrentUpdateError when the run keeps changing', async () => {
    // Prepare
    const store = new FakeRunStore();
    await store.put(run('submitted'), null);
    store.put = async () => false;
    // Act / Assess
    await assert.rejects(updateRun(store, KEY, (c) => transitionRun(c, 'failed', T0, DEFAULT_RUN_POLICY)), ConcurrentUpdateError);
  });

  it('returns undefined and writes nothing when the run is missing or nothing is to be done', async () => {
    // Prepare
    const store = new FakeRunStore();
    await store.put(run('submitted'), null);
    // Act
    const missing = await updateRun(store, { analysisId: 'demo', runId: 'nope' }, () => run('failed'));
    const nothing = await updateRun(store, KEY, () => undefined);
    // Assess
    assert.equal(missing, undefined);
    assert.equal(nothing, undefined);
    assert.equal(store.peek(KEY).version, 3);
  });
});
