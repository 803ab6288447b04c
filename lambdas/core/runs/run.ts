/**
 * The enclave run lifecycle as an explicit state machine.
 *
 * A run is one immutable submission of an analysis's home (an archive and its manifest) walking through
 * code review, build, run with the real data, output collection, disclosure checks and output review.
 * The Step Functions machine (lib/constructs/enclave-state-machine.ts) drives it; each step's task moves
 * the run record with `transitionRun` so the record always says where the run is, and why it stopped.
 */
export const RUN_STATES = [
  'archiving', // recorded and the state machine started; its first step archives the home (asynchronously)
  'submitted', // archive and manifest stored and checked; the digest is fixed
  'code-review', // waiting for reviewers to approve the submitted code
  'building', // the run image is being built from the approved archive
  'running', // the run executes with the real data, no network
  'collecting', // the declared outputs are being gathered and hashed
  'checking', // automated disclosure checks on the outputs
  'output-review', // waiting for reviewers to approve the outputs
  'released', // outputs approved; the researcher may download them (expiring link)
  'withheld', // outputs rejected by a reviewer; nothing leaves the enclave
  'rejected', // code rejected by a reviewer; nothing ran
  'failed', // something went wrong (or a deadline passed); `failure` says what
] as const;

export type RunState = (typeof RUN_STATES)[number];

/**
 * What the enclave runs: `sh run.sh` in the submitted project's top folder (the local sandbox and the run image's
 * entry script alike). A submission without it could only fail after review and build, so it is refused at once.
 */
export const RUN_SCRIPT = 'run.sh';

/** States in which a run waits for reviewers. */
export const REVIEW_STATES = ['code-review', 'output-review'] as const;
export type ReviewStep = (typeof REVIEW_STATES)[number];

/** States a run never leaves. */
export const TERMINAL_RUN_STATES: readonly RunState[] = ['released', 'withheld', 'rejected', 'failed'];

const TRANSITIONS: Readonly<Record<RunState, readonly RunState[]>> = {
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

export function canTransitionRun(from: RunState, to: RunState): boolean {
  return TRANSITIONS[from].includes(to);
}

export function allowedRunTransitions(from: RunState): readonly RunState[] {
  return TRANSITIONS[from];
}

export function isTerminalRunState(state: RunState): boolean {
  return TERMINAL_RUN_STATES.includes(state);
}

export function isReviewState(state: RunState): state is ReviewStep {
  return (REVIEW_STATES as readonly RunState[]).includes(state);
}

/** A state as a researcher reads it in a message: "waiting for code review", "building". */
export function runStateInWords(state: RunState): string {
  return isReviewState(state) ? `waiting for ${state.replace('-', ' ')}` : state;
}

/**
 * Why a run failed: `timed-out` (a state passed its deadline or a task its timeout), `integrity`
 * (an archive or output did not match its manifest), `error` (anything else: a crashed run, a build error).
 */
export type RunFailureKind = 'timed-out' | 'integrity' | 'error';

export interface RunFailure {
  readonly kind: RunFailureKind;
  /** Shown to the researcher; never holds secrets or stack traces. */
  readonly message: string;
}

export type Verdict = 'approve' | 'reject';

/** One reviewer's decision at one review step, bound to the manifest digest the reviewer saw. */
export interface ReviewDecision {
  readonly step: ReviewStep;
  readonly reviewerId: string;
  readonly verdict: Verdict;
  readonly comment: string;
  /** Digest of the manifest under review (the code's, or the outputs') when the reviewer decided. */
  readonly manifestDigest: string;
  readonly at: string;
}

export interface RunKey {
  readonly analysisId: string;
  readonly runId: string;
}

/** Where a run's files live in the object store (keys, not URLs). */
export interface RunObjects {
  readonly archiveKey: string;
  readonly manifestKey: string;
  readonly outputsKey?: string;
  readonly outputsManifestKey?: string;
  /**
   * The store's revision of the outputs archive (and of its manifest) written by the collect step (S3: the object
   * VersionId). Every later read of the outputs (review, checks, release, download) reads exactly these bytes, so a
   * later write to the same key is never shown or linked. Absent where the store keeps no versions (local folders).
   */
  readonly outputsRevision?: string;
  readonly outputsManifestRevision?: string;
}

/** The released outputs archive as the release step read it in full: what a download link serves. */
export interface ReleasedArchive {
  readonly sha256: string;
  readonly size: number;
}

export interface Run extends RunKey {
  readonly state: RunState;
  /** Optimistic-concurrency counter: every write increments it. */
  readonly version: number;
  /** The researcher who submitted; never one of the run's reviewers. */
  readonly submittedBy: string;
  readonly description: string;
  /**
   * Digest of the submitted manifest (see manifest.ts): absent while `archiving`, recorded once with the move
   * to `submitted` (the archive checked against it) and fixed from then on.
   */
  readonly manifestDigest?: string;
  /** Digest of the outputs' manifest, once collected; fixed from then on. */
  readonly outputsDigest?: string;
  readonly objects: RunObjects;
  /** Every decision at every step, oldest first. */
  readonly decisions: readonly ReviewDecision[];
  /**
   * The task token the state machine waits on in a review state. Internal: views never show it,
   * since whoever holds it can complete the step.
   */
  readonly taskToken?: string;
  /** The state machine execution driving this run. */
  readonly executionId?: string;
  /** Disclosure-check findings on the outputs (e.g. small counts), shown to output reviewers. */
  readonly findings?: readonly DisclosureFinding[];
  readonly failure?: RunFailure;
  readonly createdAt: string;
  readonly stateEnteredAt: string;
  /** When the current state is overdue; absent in terminal states. */
  readonly deadlineAt?: string;
  /** When the release link stops working (released runs only). */
  readonly releaseExpiresAt?: string;
  /** The sha256 and size of the outputs archive (its pinned revision) checked at release; released runs only. */
  readonly releasedArchive?: ReleasedArchive;
}

export interface DisclosureFinding {
  readonly path: string;
  /** Where in the file (e.g. `row 3, column count`); free text for the reviewer. */
  readonly where: string;
  readonly rule: string;
  readonly detail: string;
}
