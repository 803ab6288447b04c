/**
 * The workspace lifecycle as an explicit state machine.
 *
 * One record per (analysis, researcher). Each launch bumps `generation`, which is the idempotency
 * token for compute (one launch per generation, however many tabs or retries) and lets housekeeping
 * tell a current instance from a leftover one.
 */
export const WORKSPACE_STATES = [
  'starting', // record claimed; compute launched or resumed, waiting for it to run
  'provisioning', // compute running, hostname assigned; the tool is being prepared
  'ready', // the tool answers through the gate
  'stopping', // compute asked to stop; home kept
  'stopped', // compute stopped, resumable quickly until retention ends
  'terminating', // compute being deleted after retention (or after a failure)
  'terminated', // nothing runs; the home is kept; a new open launches afresh
  'failed', // something went wrong; `reason` says what; nothing is left running
] as const;

export type WorkspaceState = (typeof WORKSPACE_STATES)[number];

/** States in which nothing is running and an open starts a fresh launch. */
export const RELAUNCHABLE_STATES: readonly WorkspaceState[] = ['terminated', 'failed'];
/** States the researcher is waiting on (the page shows progress). */
export const IN_PROGRESS_STATES: readonly WorkspaceState[] = ['starting', 'provisioning'];

const TRANSITIONS: Readonly<Record<WorkspaceState, readonly WorkspaceState[]>> = {
  starting: ['provisioning', 'ready', 'stopping', 'failed'],
  provisioning: ['ready', 'stopping', 'stopped', 'failed'],
  // ready -> stopped: the instance was stopped outside carrel (console, spot reclaim).
  ready: ['stopping', 'stopped', 'failed'],
  stopping: ['stopped', 'terminating', 'failed'],
  stopped: ['starting', 'terminating', 'failed'],
  terminating: ['terminated', 'failed'],
  terminated: ['starting'],
  failed: ['starting', 'terminating', 'terminated'],
};

export function canTransition(from: WorkspaceState, to: WorkspaceState): boolean {
  return TRANSITIONS[from].includes(to);
}

export function allowedTransitions(from: WorkspaceState): readonly WorkspaceState[] {
  return TRANSITIONS[from];
}

export interface WorkspaceKey {
  readonly analysisId: string;
  readonly userId: string;
}

export interface Workspace extends WorkspaceKey {
  /** Stable random id of this (analysis, user) workspace. */
  readonly workspaceId: string;
  readonly state: WorkspaceState;
  /** Incremented on every fresh launch or resume; part of the compute idempotency token. */
  readonly generation: number;
  /** Optimistic-concurrency counter: every write increments it. */
  readonly version: number;
  readonly tool: string;
  readonly size: string;
  /** `ws-<random>` label of the current launch; the full hostname is label + desk domain. */
  readonly hostLabel?: string;
  readonly hostname?: string;
  /** Compute instance (EC2 id, ECS task ARN, local process id) of the current generation. */
  readonly instanceId?: string;
  /** Where the gate listens (ip:port); what the hostname points at. */
  readonly address?: string;
  /** Why the workspace failed, shown to the researcher. */
  readonly reason?: string;
  readonly createdAt: string;
  readonly stateEnteredAt: string;
  /** When the current state is overdue; absent for `ready` (idle policy applies) and terminal states. */
  readonly deadlineAt?: string;
  readonly lastActivityAt?: string;
  /** When housekeeping should next look at this record (deadline, idle stop or retention end). */
  readonly dueAt?: string;
  /** True when the current generation resumed a stopped instance rather than launching afresh. */
  readonly resumed?: boolean;
}
