import { ConcurrentUpdateError, ConflictError } from '../errors.js';
import { randomLabel } from '../ids.js';
import { runDeadlineFor, type RunPolicy } from './policy.js';
import type { RunStore } from './ports.js';
import { canTransitionRun, type Run, type RunKey, type RunState } from './run.js';

export type RunPatch = Partial<Omit<Run, 'analysisId' | 'runId' | 'state' | 'version' | 'submittedBy' | 'manifestDigest' | 'createdAt'>>;

/**
 * The one way to change a run's state: checks the transition, stamps when the state was entered and
 * its deadline, drops the task token of the state left behind, and bumps the version.
 */
export function transitionRun(run: Run, to: RunState, now: Date, policy: RunPolicy, patch: RunPatch = {}): Run {
  if (!canTransitionRun(run.state, to)) {
    throw new ConflictError(`A run cannot go from ${run.state} to ${to}`);
  }
  const { taskToken: _left, ...rest } = run;
  const next: Run = {
    ...rest,
    ...patch,
    state: to,
    version: run.version + 1,
    stateEnteredAt: now.toISOString(),
  };
  const deadlineAt = runDeadlineFor(to, now, policy);
  if (deadlineAt) return { ...next, deadlineAt };
  const { deadlineAt: _none, ...terminal } = next;
  return terminal;
}

/** A change that keeps the state (e.g. a decision recorded) with a version bump. */
export function amendRun(run: Run, patch: RunPatch): Run {
  return { ...run, ...patch, version: run.version + 1 };
}

/**
 * Read-decide-write on one run: `decide` returns the next record (or undefined: nothing to do);
 * a lost conditional write re-reads and decides again.
 */
export async function updateRun(
  runs: RunStore,
  key: RunKey,
  decide: (current: Run) => Run | undefined,
  attempts = 5,
): Promise<{ readonly before: Run; readonly after: Run } | undefined> {
  for (let i = 0; i < attempts; i++) {
    const current = await runs.get(key);
    if (!current) return undefined;
    const next = decide(current);
    if (!next) return undefined;
    if (await runs.put(next, current.version)) return { before: current, after: next };
  }
  throw new ConcurrentUpdateError(`Run ${key.analysisId}/${key.runId} kept changing; try again`);
}

/**
 * A new run id: the submission time (UTC, to the second) then 10 random characters, so ids sort by
 * submission time (the store lists an analysis's runs newest first by id) and cannot be guessed.
 */
export function newRunId(now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'z').toLowerCase();
  return `r${stamp}-${randomLabel(10)}`;
}
