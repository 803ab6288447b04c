import { ConflictError, NotAllowedError } from '../errors.js';
import type { User } from '../ports.js';
import { isReviewState, isTerminalRunState, type ReviewDecision, type ReviewStep, type Run, type RunState } from './run.js';

type NonTerminalRunState = Exclude<RunState, 'released' | 'withheld' | 'rejected' | 'failed'>;

/**
 * Timing and review policy of enclave runs. Values are milliseconds. The same deadlines become the
 * state machine's TimeoutSeconds (lib/constructs/enclave-state-machine.ts), so the record and the
 * execution agree on when a step is overdue.
 */
export interface RunPolicy {
  readonly deadlines: Readonly<Record<NonTerminalRunState, number>>;
  /** Approvals from different reviewers each review step needs (1, or 2 for two-person review). */
  readonly requiredApprovals: 1 | 2;
  /** How long a release link works. */
  readonly releaseLinkTtlMs: number;
  /** Role a user needs to review runs. */
  readonly reviewerRole: string;
}

const HOUR = 3_600_000;

export const DEFAULT_RUN_POLICY: RunPolicy = {
  deadlines: {
    // Archiving a large home runs in a Lambda, whose ceiling is 15 minutes (the step's timeout is capped there).
    archiving: 15 * 60_000,
    submitted: 15 * 60_000,
    'code-review': 7 * 24 * HOUR,
    building: 1 * HOUR,
    running: 12 * HOUR,
    collecting: 30 * 60_000,
    checking: 30 * 60_000,
    'output-review': 7 * 24 * HOUR,
  },
  requiredApprovals: 1,
  releaseLinkTtlMs: 24 * HOUR,
  reviewerRole: 'reviewer',
};

export function runDeadlineFor(state: RunState, now: Date, policy: RunPolicy): string | undefined {
  if (isTerminalRunState(state)) return undefined;
  return new Date(now.getTime() + policy.deadlines[state as NonTerminalRunState]).toISOString();
}

/** The manifest digest reviewers at `step` must have seen: the submitted code's, or the outputs'. */
export function digestUnderReview(run: Run, step: ReviewStep): string | undefined {
  return step === 'code-review' ? run.manifestDigest : run.outputsDigest;
}

/** Decisions of the current review step (a run passes each step once, so the step names them). */
export function decisionsAt(run: Run, step: ReviewStep): readonly ReviewDecision[] {
  return run.decisions.filter((d) => d.step === step);
}

export interface ReviewAttempt {
  readonly step: ReviewStep;
  /** The manifest digest the reviewer's page showed. */
  readonly manifestDigest: string;
}

/**
 * Whether `reviewer` may decide on `run` at `attempt.step` now. Throws:
 * - NotAllowedError: not a reviewer, or the run's own submitter (nobody reviews their own run);
 * - ConflictError: the run is not waiting at that step, the reviewer already decided there, or the
 *   manifest changed since the reviewer looked (a decision is bound to what was seen).
 */
export function assertMayReview(run: Run, reviewer: User, attempt: ReviewAttempt, policy: RunPolicy): void {
  if (!reviewer.roles.includes(policy.reviewerRole)) {
    throw new NotAllowedError(`${reviewer.userId} is not a reviewer`);
  }
  if (reviewer.userId === run.submittedBy) {
    throw new NotAllowedError('A reviewer cannot review their own run');
  }
  if (!isReviewState(run.state) || run.state !== attempt.step) {
    throw new ConflictError(`Run ${run.runId} is ${run.state}, not waiting for ${attempt.step}`);
  }
  if (decisionsAt(run, attempt.step).some((d) => d.reviewerId === reviewer.userId)) {
    throw new ConflictError(`${reviewer.userId} has already decided on this ${attempt.step}; another reviewer must give the next decision`);
  }
  const expected = digestUnderReview(run, attempt.step);
  if (!expected || expected !== attempt.manifestDigest) {
    throw new ConflictError(`The files under review changed since they were shown (digest ${attempt.manifestDigest} is not ${expected ?? 'set'}); reload and review again`);
  }
}

export type ReviewOutcome = 'approved' | 'rejected' | 'pending';

/**
 * The outcome of a review step: one rejection rejects; `requiredApprovals` approvals from different
 * reviewers approve; anything less is pending.
 */
export function reviewOutcome(decisions: readonly ReviewDecision[], policy: RunPolicy): ReviewOutcome {
  if (decisions.some((d) => d.verdict === 'reject')) return 'rejected';
  const approvers = new Set(decisions.filter((d) => d.verdict === 'approve').map((d) => d.reviewerId));
  return approvers.size >= policy.requiredApprovals ? 'approved' : 'pending';
}
