import type { WorkspaceDeps } from '../deps.js';
import { NotAllowedError, NotFoundError } from '../errors.js';
import { describeError, transition, update } from '../lifecycle.js';
import type { User } from '../ports.js';
import type { Workspace, WorkspaceKey, WorkspaceState } from '../workspace.js';

const STOPPABLE: readonly WorkspaceState[] = ['starting', 'provisioning', 'ready'];

/**
 * Stop a running workspace, keeping its instance for a quick resume and its home forever.
 * The `stopped` compute event completes the transition. Returns undefined when there was nothing to stop.
 * `when`, if given, is checked against the current record inside the conditional write (housekeeping
 * uses it so a heartbeat that lands between its query and its write cancels the idle stop).
 */
export async function stopWorkspace(
  deps: WorkspaceDeps,
  key: WorkspaceKey,
  reason: string,
  when?: (current: Workspace) => boolean,
): Promise<Workspace | undefined> {
  const result = await update(deps, key, (current) => {
    if (!STOPPABLE.includes(current.state)) return undefined;
    if (when && !when(current)) return undefined;
    return transition(current, 'stopping', deps.clock.now(), deps.policy, { reason });
  });
  if (!result) return undefined;
  const ws = result.after;
  deps.log.info('workspace stopping', { analysisId: key.analysisId, userId: key.userId, reason });
  if (ws.hostname) {
    await deps.hostnames.release(ws.hostname).catch((error) =>
      deps.log.error('hostname release failed; reconciliation will retry', { hostname: ws.hostname, error: describeError(error) }),
    );
  }
  if (ws.instanceId) {
    try {
      await deps.compute.stop(ws.instanceId);
    } catch (error) {
      // The stopping deadline catches this: housekeeping terminates what could not be stopped.
      deps.log.error('stop failed; housekeeping will retry', { analysisId: key.analysisId, userId: key.userId, error: describeError(error) });
    }
  }
  return ws;
}

/** A researcher stops their own workspace; an admin may stop anyone's. */
export async function stopByUser(deps: WorkspaceDeps, user: User, key: WorkspaceKey): Promise<Workspace> {
  if (key.userId !== user.userId && !user.roles.includes('admin')) {
    throw new NotAllowedError('Only the workspace owner or an admin can stop it');
  }
  const stopped = await stopWorkspace(deps, key, `Stopped by ${user.userId}`);
  if (stopped) return stopped;
  const current = await deps.store.get(key);
  if (!current) throw new NotFoundError('There is no such workspace');
  return current;
}
