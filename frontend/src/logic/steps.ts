import type { StepStatus, WorkspaceViewJson } from '../types.js';
import { formatElapsed, timeLeftText } from './format.js';

export interface StepRow {
  readonly id: string;
  readonly label: string;
  readonly status: StepStatus;
  /** A glyph for sighted users (hidden from screen readers). */
  readonly icon: string;
  /** What a screen reader says about the step's status. */
  readonly statusText: string;
}

const ICONS: Record<StepStatus, string> = { done: '✓', active: '', pending: '○', failed: '✕' };
const STATUS_TEXT: Record<StepStatus, string> = { done: 'done', active: 'in progress', pending: 'not started', failed: 'failed' };

/**
 * The steps to show. The server marks "Connecting" active once the workspace is ready; only the page
 * knows when the tool actually loaded in the iframe, so `connected` completes it.
 */
export function stepRows(view: Pick<WorkspaceViewJson, 'state' | 'steps'>, connected: boolean): StepRow[] {
  return view.steps.map((step) => {
    const status: StepStatus = view.state === 'ready' && connected && step.status !== 'failed' ? 'done' : step.status;
    return { id: step.id, label: step.label, status, icon: ICONS[status], statusText: STATUS_TEXT[status] };
  });
}

/** The step that failed (for the failure page), if any. */
export function failedStep(view: Pick<WorkspaceViewJson, 'steps'>): string | undefined {
  return view.steps.find((step) => step.status === 'failed')?.label;
}

/** The sentence a screen reader hears when the progress changes, e.g. "Starting Jupyter: in progress". */
export function progressAnnouncement(rows: readonly StepRow[]): string {
  const current = rows.find((row) => row.status === 'failed') ?? rows.find((row) => row.status === 'active');
  if (current) return `${current.label}: ${current.statusText}`;
  if (rows.length > 0 && rows.every((row) => row.status === 'done')) return 'Connected';
  return '';
}

export interface ProgressSummary {
  readonly elapsed: string;
  readonly timeLeft: string;
}

/** "0:12 elapsed", "about 20 s left". */
export function progressSummary(
  view: Pick<WorkspaceViewJson, 'estimatedSecondsLeft'>,
  waitStartedAtMs: number | undefined,
  localNowMs: number,
): ProgressSummary {
  return {
    elapsed: formatElapsed(waitStartedAtMs === undefined ? 0 : localNowMs - waitStartedAtMs),
    timeLeft: timeLeftText(view.estimatedSecondsLeft),
  };
}
