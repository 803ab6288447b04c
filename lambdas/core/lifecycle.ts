import { ConcurrentUpdateError, ConflictError } from './errors.js';
import type { WorkspaceDeps } from './deps.js';
import { deadlineFor, dueAtFor, type LifecyclePolicy } from './policy.js';
import { canTransition, type Workspace, type WorkspaceKey, type WorkspaceState } from './workspace.js';

type Patch = Partial<Omit<Workspace, 'analysisId' | 'userId' | 'workspaceId' | 'state' | 'version'>>;

/**
 * The one way to change a record's state: checks the transition is allowed, stamps the time the
 * state was entered, its deadline and when housekeeping is next due, and bumps the version.
 */
export function transition(
  ws: Workspace,
  to: WorkspaceState,
  now: Date,
  policy: LifecyclePolicy,
  patch: Patch = {},
): Workspace {
  if (!canTransition(ws.state, to)) {
    throw new ConflictError(`A workspace cannot go from ${ws.state} to ${to}`);
  }
  const at = now.toISOString();
  const next: Workspace = {
    ...ws,
    ...patch,
    state: to,
    version: ws.version + 1,
    stateEnteredAt: at,
    deadlineAt: deadlineFor(to, now, policy),
  };
  return { ...next, dueAt: dueAtFor(next, policy) };
}

/** Apply a patch that keeps the state (e.g. record the instance id) with a version bump. */
export function amend(ws: Workspace, patch: Patch, policy: LifecyclePolicy): Workspace {
  const next: Workspace = { ...ws, ...patch, version: ws.version + 1 };
  return { ...next, dueAt: dueAtFor(next, policy) };
}

/**
 * Read-decide-write loop for one record: `decide` returns the next record (or undefined for
 * "nothing to do"); a lost conditional write re-reads and decides again.
 */
export async function update(
  deps: Pick<WorkspaceDeps, 'store'>,
  key: WorkspaceKey,
  decide: (current: Workspace) => Workspace | undefined,
  attempts = 5,
): Promise<{ readonly before: Workspace; readonly after: Workspace } | undefined> {
  for (let i = 0; i < attempts; i++) {
    const current = await deps.store.get(key);
    if (!current) return undefined;
    const next = decide(current);
    if (!next) return undefined;
    if (await deps.store.put(next, current.version)) return { before: current, after: next };
  }
  throw new ConcurrentUpdateError(`Workspace ${key.analysisId}/${key.userId} kept changing; try again`);
}

export function hostnameOf(label: string, deskDomain: string): string {
  return `${label}.${deskDomain}`;
}

/** Tag naming the home (EFS access point, local folder) an instance was launched with. */
export const HOME_TAG = 'carrel:home';

/** The tag keys that say which workspace an instance belongs to (the deployment tag aside). */
export const WORKSPACE_TAG_KEYS = ['carrel:analysis', 'carrel:user', 'carrel:workspace', 'carrel:generation', HOME_TAG] as const;

/** Tags every compute resource of a workspace carries; reconciliation reads them back. */
export function workspaceTags(ws: Pick<Workspace, 'analysisId' | 'userId' | 'workspaceId' | 'generation'>, deploymentId: string): Record<string, string> {
  return {
    'carrel:deployment': deploymentId,
    'carrel:analysis': ws.analysisId,
    'carrel:user': ws.userId,
    'carrel:workspace': ws.workspaceId,
    'carrel:generation': String(ws.generation),
  };
}

export function keyFromTags(tags: Readonly<Record<string, string>>): (WorkspaceKey & { generation: number }) | undefined {
  const analysisId = tags['carrel:analysis'];
  const userId = tags['carrel:user'];
  const generation = Number(tags['carrel:generation']);
  if (!analysisId || !userId || !Number.isInteger(generation) || generation < 1) return undefined;
  return { analysisId, userId, generation };
}

export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export interface FailOptions {
  /** Fail only while this still holds for the current record (e.g. "still past its deadline"). */
  readonly when?: (current: Workspace) => boolean;
  /** An instance to terminate too, when the record does not hold its id yet (found by tags). */
  readonly alsoTerminate?: string;
}

/**
 * Put a workspace into `failed` with a reason, after a best-effort cleanup so nothing is left
 * running (whatever the cleanup misses, housekeeping's reconciliation finds by tag).
 */
export async function failWorkspace(
  deps: WorkspaceDeps,
  key: WorkspaceKey,
  reason: string,
  expectedGeneration?: number,
  options: FailOptions = {},
) {
  const result = await update(deps, key, (current) => {
    if (expectedGeneration !== undefined && current.generation !== expectedGeneration) return undefined;
    if (!canTransition(current.state, 'failed')) return undefined;
    if (options.when && !options.when(current)) return undefined;
    return transition(current, 'failed', deps.clock.now(), deps.policy, { reason });
  });
  if (!result) return undefined;
  deps.log.warn('workspace failed', { analysisId: key.analysisId, userId: key.userId, reason, from: result.before.state });
  await cleanup(deps, result.before);
  const extra = options.alsoTerminate;
  if (extra && extra !== result.before.instanceId) {
    await deps.compute.terminate(extra).catch((error) =>
      deps.log.error('terminate failed; reconciliation will retry', { instanceId: extra, error: describeError(error) }),
    );
  }
  return result.after;
}

/** Best-effort: terminate the instance and remove the hostname of a record that no longer runs. */
export async function cleanup(deps: WorkspaceDeps, ws: Workspace): Promise<void> {
  if (ws.instanceId) {
    await deps.compute.terminate(ws.instanceId).catch((error) =>
      deps.log.error('terminate failed; reconciliation will retry', { instanceId: ws.instanceId, error: describeError(error) }),
    );
  }
  if (ws.hostname) {
    await deps.hostnames.release(ws.hostname).catch((error) =>
      deps.log.error('hostname release failed; reconciliation will retry', { hostname: ws.hostname, error: describeError(error) }),
    );
  }
}
