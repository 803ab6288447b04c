import type { Workspace, WorkspaceState } from './workspace.js';

/**
 * Timing policy of the lifecycle: a deadline for every non-terminal state and the idle policy.
 * Values are milliseconds. Deployments set them in typed configuration.
 */
export interface LifecyclePolicy {
  readonly deadlines: Readonly<Record<'starting' | 'provisioning' | 'stopping' | 'terminating', number>>;
  /** A ready workspace with no activity for this long is stopped. */
  readonly idleTimeoutMs: number;
  /** The page warns this long before the idle stop. */
  readonly idleWarningMs: number;
  /** A stopped workspace is terminated after this long (its home is kept). */
  readonly stoppedRetentionMs: number;
}

export const DEFAULT_POLICY: LifecyclePolicy = {
  deadlines: { starting: 5 * 60_000, provisioning: 5 * 60_000, stopping: 5 * 60_000, terminating: 10 * 60_000 },
  idleTimeoutMs: 30 * 60_000,
  idleWarningMs: 60_000,
  stoppedRetentionMs: 7 * 24 * 3_600_000,
};

/**
 * Deadline for entering `state` at `now`, or undefined where no deadline applies: every non-terminal
 * state has one (for `stopped` it is the end of the retention), except `ready`, where the idle policy
 * decides instead.
 */
export function deadlineFor(state: WorkspaceState, now: Date, policy: LifecyclePolicy): string | undefined {
  switch (state) {
    case 'starting':
    case 'provisioning':
    case 'stopping':
    case 'terminating':
      return new Date(now.getTime() + policy.deadlines[state]).toISOString();
    case 'stopped':
      return new Date(now.getTime() + policy.stoppedRetentionMs).toISOString();
    default:
      return undefined;
  }
}

/** When the idle policy stops a ready workspace whose last activity was at `lastActivityAt`. */
export function idleStopAt(lastActivityAt: string, policy: LifecyclePolicy): string {
  return new Date(Date.parse(lastActivityAt) + policy.idleTimeoutMs).toISOString();
}

/**
 * When housekeeping must next look at a record in `state`: its deadline, its idle stop,
 * or the end of its retention. Undefined for states nobody has to act on.
 */
export function dueAtFor(
  ws: Pick<Workspace, 'state' | 'deadlineAt' | 'lastActivityAt' | 'stateEnteredAt'>,
  policy: LifecyclePolicy,
): string | undefined {
  switch (ws.state) {
    case 'ready':
      return idleStopAt(ws.lastActivityAt ?? ws.stateEnteredAt, policy);
    case 'stopped':
      return ws.deadlineAt ?? new Date(Date.parse(ws.stateEnteredAt) + policy.stoppedRetentionMs).toISOString();
    case 'terminated':
      return undefined;
    case 'failed':
      return undefined;
    default:
      return ws.deadlineAt;
  }
}

export type IdleVerdict =
  | { readonly kind: 'active'; readonly stopAt: string }
  | { readonly kind: 'warn'; readonly stopAt: string; readonly secondsLeft: number }
  | { readonly kind: 'idle' };

/**
 * The one idle policy for every tool: a workspace is active while its latest activity (a heartbeat
 * from a visible page, traffic through the gate, or a busy signal) is more recent than the timeout.
 */
export function idleVerdict(lastActivityAt: string, now: Date, policy: LifecyclePolicy): IdleVerdict {
  const stopAt = idleStopAt(lastActivityAt, policy);
  const left = Date.parse(stopAt) - now.getTime();
  if (left <= 0) return { kind: 'idle' };
  if (left <= policy.idleWarningMs) return { kind: 'warn', stopAt, secondsLeft: Math.ceil(left / 1000) };
  return { kind: 'active', stopAt };
}
