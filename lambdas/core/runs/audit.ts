import type { RunKey, ReviewStep } from './run.js';

/** What an audit entry records. */
export type AuditAction =
  | 'submitted'
  | 'archived'
  | 'review-requested'
  | 'approved'
  | 'rejected'
  | 'released'
  | 'withheld'
  | 'failed'
  | 'downloaded';

/**
 * One line of a run's append-only audit log: who did what, when, on which manifest. Entries are
 * written once and never changed (the store refuses to overwrite one).
 */
export interface AuditEntry extends RunKey {
  /** Unique within the run; with `at` it orders the log. */
  readonly entryId: string;
  readonly at: string;
  /** User id, or `system` for the state machine's own steps. */
  readonly actor: string;
  readonly action: AuditAction;
  /** The manifest the action concerned (the code's or the outputs'); absent before the home was archived. */
  readonly manifestDigest?: string;
  readonly step?: ReviewStep;
  readonly comment?: string;
}

export const SYSTEM_ACTOR = 'system';
