/** What the runs list and the review console say about a run; no DOM. */
import type { DecisionJson, ReviewStep, RunState, RunViewJson } from '../runs-types.js';

/** The longest description the API takes (docs/contracts.md). */
export const DESCRIPTION_MAX = 500;

/** While any run is in progress, the runs list re-reads this often. */
export const RUNS_POLL_MS = 3_000;
/** The review queue re-reads this often (runs arrive from other people). */
export const QUEUE_POLL_MS = 10_000;

const TERMINAL: readonly RunState[] = ['released', 'withheld', 'rejected', 'failed'];

const STATE_LABELS: Record<RunState, string> = {
  archiving: 'Archiving your files',
  submitted: 'Submitted',
  'code-review': 'Waiting for code review',
  building: 'Building',
  running: 'Running',
  collecting: 'Collecting outputs',
  checking: 'Checking outputs',
  'output-review': 'Waiting for output review',
  released: 'Released',
  withheld: 'Outputs withheld',
  rejected: 'Code rejected',
  failed: 'Failed',
};

export function runStateLabel(state: RunState): string {
  return STATE_LABELS[state] ?? state;
}

export type RunTone = 'ok' | 'error' | 'pending' | 'waiting';

export function runStateTone(state: RunState): RunTone {
  if (state === 'released') return 'ok';
  if (state === 'withheld' || state === 'rejected' || state === 'failed') return 'error';
  if (state === 'code-review' || state === 'output-review') return 'waiting';
  return 'pending';
}

export function isRunFinished(state: RunState): boolean {
  return TERMINAL.includes(state);
}

/** Milliseconds until the runs list is read again: while any run can still change by itself or a reviewer. */
export function runsPollDelay(runs: readonly Pick<RunViewJson, 'state'>[], failures = 0): number | null {
  if (!runs.some((run) => !isRunFinished(run.state))) return null;
  if (failures > 0) return Math.min(30_000, RUNS_POLL_MS * 2 ** Math.min(failures, 10));
  return RUNS_POLL_MS;
}

/** Checks the description before it is sent: required, at most DESCRIPTION_MAX characters. */
export function descriptionError(description: string): string | undefined {
  const trimmed = description.trim();
  if (!trimmed) return 'Describe the run in a few words, for the reviewers.';
  if ([...trimmed].length > DESCRIPTION_MAX) return `Keep the description to ${DESCRIPTION_MAX} characters (it has ${[...trimmed].length}).`;
  return undefined;
}

/** A duration in seconds as people say it: "40 s", "12 min", "3 h 5 min", "2 d 4 h". */
export function formatDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  if (s < 60) return `${s} s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days} d ${hours % 24} h` : `${days} d`;
}

/** How long the run has been in its current state, for states that wait; undefined once it is finished. */
export function waitingSeconds(run: Pick<RunViewJson, 'state' | 'stateEnteredAt'>, nowMs: number): number | undefined {
  if (isRunFinished(run.state)) return undefined;
  const entered = Date.parse(run.stateEnteredAt);
  if (Number.isNaN(entered)) return undefined;
  return Math.max(0, Math.round((nowMs - entered) / 1000));
}

const STEP_NAMES: Record<ReviewStep, string> = { 'code-review': 'Code', 'output-review': 'Outputs' };

export function stepLabel(step: ReviewStep): string {
  return step === 'code-review' ? 'Code review' : 'Output review';
}

/** One line per decision: "Code approved by rita", "Outputs rejected by rita". */
export function decisionLine(decision: DecisionJson): string {
  return `${STEP_NAMES[decision.step]} ${decision.verdict === 'approve' ? 'approved' : 'rejected'} by ${decision.reviewerId}`;
}

/** Who reviewed the run, once each, in the order they first decided. */
export function reviewers(run: Pick<RunViewJson, 'decisions'>): string[] {
  return [...new Set(run.decisions.map((decision) => decision.reviewerId))];
}

/** Approvals so far at the step: "1 of 2 approvals" (or "No approvals yet" / "1 of 1 approval"). */
export function approvalsText(decisions: readonly DecisionJson[], step: ReviewStep, required: number): string {
  const approvals = decisions.filter((d) => d.step === step && d.verdict === 'approve').length;
  return `${approvals} of ${required} approval${required === 1 ? '' : 's'}`;
}

/** The download link's remaining life: "expires in 23 h", or "expired". */
export function expiryText(expiresAt: string, nowMs: number): string {
  const left = (Date.parse(expiresAt) - nowMs) / 1000;
  if (!(left > 0)) return 'link expired';
  return `link expires in ${formatDuration(left)}`;
}

/** A released run's download link while it is still valid. */
export function liveDownload(run: Pick<RunViewJson, 'download'>, nowMs: number): RunViewJson['download'] {
  if (!run.download) return undefined;
  return Date.parse(run.download.expiresAt) > nowMs ? run.download : undefined;
}

/** The link to one output file: the run's download link with `path` (docs/contracts.md). */
export function fileDownloadUrl(downloadUrl: string, path: string): string {
  const separator = downloadUrl.includes('?') ? '&' : '?';
  return `${downloadUrl}${separator}path=${encodeURIComponent(path)}`;
}

/** What the researcher should read about where the run is now. */
export function runExplanation(run: Pick<RunViewJson, 'state' | 'failure'>): string {
  switch (run.state) {
    case 'archiving':
      return 'Your files are being archived for review; a large home takes a few minutes. Leave them as they are until it is done.';
    case 'submitted':
      return 'Your files were archived; the run is starting.';
    case 'code-review':
      return 'A reviewer checks your code before it runs with the real data.';
    case 'building':
    case 'running':
    case 'collecting':
    case 'checking':
      return 'Your approved code runs in the enclave with the real data, without network.';
    case 'output-review':
      return 'A reviewer checks the outputs before they are released to you.';
    case 'released':
      return 'The outputs were approved and released to you.';
    case 'withheld':
      return 'A reviewer withheld the outputs; nothing left the enclave.';
    case 'rejected':
      return 'A reviewer rejected the code; nothing ran.';
    case 'failed':
      return run.failure?.message ?? 'The run failed.';
  }
}

/** A short form of a sha256 for tables; the whole digest stays in the title. */
export function shortDigest(digest: string | undefined): string {
  if (!digest) return '';
  const hex = digest.replace(/^sha256:/, '');
  return hex.length > 12 ? `${hex.slice(0, 12)}…` : hex;
}

/** Shared with the desk's messages (one formatter, so pages and errors say sizes alike). */
export { formatBytes } from '../../../lambdas/core/bytes.js';
