import type { WorkspaceState } from '../types.js';

/** While the workspace is starting, the page polls about every second. */
export const PROGRESS_POLL_MS = 1_000;
/** While it is stopping or shutting down, a little less often. */
export const SETTLING_POLL_MS = 2_000;
/**
 * While ready, a status read every ~4 minutes refreshes the short-lived gate cookie (it is not activity).
 */
export const READY_POLL_MS = 240_000;
/** During the idle countdown, a status read notices activity the gate reported (traffic in the tool). */
export const COUNTDOWN_POLL_MS = 10_000;
export const MAX_BACKOFF_MS = 30_000;

export interface PollContext {
  /** The idle countdown is showing. */
  readonly countdown?: boolean;
  /** Consecutive failed requests (network, 5xx); backs off exponentially. */
  readonly failures?: number;
}

/** Milliseconds until the next status poll, or null when nothing will change without the user. */
export function nextPollDelay(state: WorkspaceState, context: PollContext = {}): number | null {
  let base: number | null;
  switch (state) {
    case 'starting':
    case 'provisioning':
      base = PROGRESS_POLL_MS;
      break;
    case 'ready':
      base = context.countdown ? COUNTDOWN_POLL_MS : READY_POLL_MS;
      break;
    case 'stopping':
    case 'terminating':
      base = SETTLING_POLL_MS;
      break;
    default:
      base = null;
  }
  if (base === null) return null;
  const failures = context.failures ?? 0;
  if (failures > 0) return Math.min(MAX_BACKOFF_MS, 1_000 * 2 ** Math.min(failures, 10));
  return base;
}

/** Backoff for retrying a request that failed before any view arrived. */
export function retryDelay(failures: number): number {
  return Math.min(MAX_BACKOFF_MS, 1_000 * 2 ** Math.min(Math.max(failures, 1), 10));
}
