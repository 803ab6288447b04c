import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConflictError, NotAllowedError } from '../../../../lambdas/core/errors.js';
import {
  assertMayReview,
  DEFAULT_RUN_POLICY,
  reviewOutcome,
  type ReviewDecision,
  type Run,
  type RunPolicy,
} from '../../../../lambdas/core/runs/index.js';
import { T0, users } from '../../../support/fakes.js';
import { KEY } from '../../../support/run-fakes.js';

const CODE = 'c'.repeat(64);
const OUT = 'o'.repeat(64);
const TWO: RunPolicy = { ...DEFAULT_RUN_POLICY, requiredApprovals: 2 };
const rob = { userId: 'rob', roles: ['reviewer'] };
const ritaResearcher = { userId: 'alice', roles: ['researcher', 'reviewer'] };

function run(state: Run['state'], decisions: ReviewDecision[] = []): Run {
  return {
    ...KEY,
    state,
    version: 1,
    submittedBy: 'alice',
    description: 'd',
    manifestDigest: CODE,
    outputsDigest: state === 'output-review' ? OUT : undefined,
    objects: { archiveKey: 'a', manifestKey: 'm' },
    decisions,
    createdAt: T0.toISOString(),
    stateEnteredAt: T0.toISOString(),
  } as Run;
}

const decision = (reviewerId: string, verdict: 'approve' | 'reject', step: ReviewDecision['step'] = 'code-review'): ReviewDecision => ({
  step,
  reviewerId,
  verdict,
  comment: '',
  manifestDigest: step === 'code-review' ? CODE : OUT,
  at: T0.toISOString(),
});

describe('review policy: who may decide', () => {
  it('lets a reviewer decide on the digest they saw at the step the run waits at', () => {
    assert.doesNotThrow(() => assertMayReview(run('code-review'), users.rita, { step: 'code-review', manifestDigest: CODE }, DEFAULT_RUN_POLICY));
    assert.doesNotThrow(() => assertMayReview(run('output-review'), users.rita, { step: 'output-review', manifestDigest: OUT }, DEFAULT_RUN_POLICY));
  });

  it('refuses the submitter, even one who holds the reviewer role', () => {
    assert.throws(() => assertMayReview(run('code-review'), ritaResearcher, { step: 'code-review', manifestDigest: CODE }, DEFAULT_RUN_POLICY), NotAllowedError);
  });

  it('refuses someone without the reviewer role', () => {
    assert.throws(() => assertMayReview(run('code-review'), users.bob, { step: 'code-review', manifestDigest: CODE }, DEFAULT_RUN_POLICY), NotAllowedError);
  });

  it('refuses a decision for a step the run is not waiting at', () => {
    assert.throws(() => assertMayReview(run('building'), users.rita, { step: 'code-review', manifestDigest: CODE }, DEFAULT_RUN_POLICY), ConflictError);
    assert.throws(() => assertMayReview(run('code-review'), users.rita, { step: 'output-review', manifestDigest: OUT }, DEFAULT_RUN_POLICY), ConflictError);
  });

  it('refuses a decision on a digest other than the one under review (the files changed since shown)', () => {
    assert.throws(
      () => assertMayReview(run('code-review'), users.rita, { step: 'code-review', manifestDigest: 'f'.repeat(64) }, DEFAULT_RUN_POLICY),
      (e: unknown) => e instanceof ConflictError && /changed since they were shown/.test(e.message),
    );
    // the code digest is not the outputs digest
    assert.throws(() => assertMayReview(run('output-review'), users.rita, { step: 'output-review', manifestDigest: CODE }, DEFAULT_RUN_POLICY), ConflictError);
  });

  it('refuses a second decision by the same reviewer at the same step (two approvals need two people)', () => {
    assert.throws(() => assertMayReview(run('code-review', [decision('rita', 'approve')]), users.rita, { step: 'code-review', manifestDigest: CODE }, TWO), ConflictError);
    assert.doesNotThrow(() => assertMayReview(run('code-review', [decision('rita', 'approve')]), rob, { step: 'code-review', manifestDigest: CODE }, TWO));
  });

  it('a decision at code review does not count at output review', () => {
    assert.doesNotThrow(() =>
      assertMayReview(run('output-review', [decision('rita', 'approve')]), users.rita, { step: 'output-review', manifestDigest: OUT }, DEFAULT_RUN_POLICY),
    );
  });
});

describe('review policy: outcome', () => {
  it('with one approval required, one approval approves', () => {
    assert.equal(reviewOutcome([], DEFAULT_RUN_POLICY), 'pending');
    assert.equal(reviewOutcome([decision('rita', 'approve')], DEFAULT_RUN_POLICY), 'approved');
  });

  it('with two required, one approval is pending and two from different reviewers approve', () => {
    assert.equal(reviewOutcome([decision('rita', 'approve')], TWO), 'pending');
    assert.equal(reviewOutcome([decision('rita', 'approve'), decision('rita', 'approve')], TWO), 'pending');
    assert.equal(reviewOutcome([decision('rita', 'approve'), decision('rob', 'approve')], TWO), 'approved');
  });

  it('one rejection rejects, whatever the approvals', () => {
    assert.equal(reviewOutcome([decision('rita', 'reject')], TWO), 'rejected');
    assert.equal(reviewOutcome([decision('rita', 'approve'), decision('rob', 'reject')], TWO), 'rejected');
  });
});
