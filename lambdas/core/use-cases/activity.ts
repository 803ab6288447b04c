import type { WorkspaceDeps } from '../deps.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { idleStopAt } from '../policy.js';
import type { User } from '../ports.js';
import type { Workspace, WorkspaceKey } from '../workspace.js';

/**
 * A heartbeat from a visible front-desk page: one conditional write, no read. Refused with a conflict
 * when the workspace is not ready (the page then polls status).
 */
export async function heartbeat(deps: Pick<WorkspaceDeps, 'store' | 'clock' | 'policy'>, user: User, analysisId: string): Promise<Workspace> {
  const at = deps.clock.now().toISOString();
  const updated = await deps.store.touch({ analysisId, userId: user.userId }, { at, dueAt: idleStopAt(at, deps.policy) });
  if (!updated) throw new ConflictError('The workspace is not running');
  return updated;
}

/** What a gate vouches for when it reports traffic or a busy tool (claims of its signed agent token). */
export interface AgentIdentity extends WorkspaceKey {
  readonly workspaceId: string;
  readonly generation: number;
}

/** Traffic through the gate or a busy signal from the workspace: one conditional write. */
export async function reportActivity(deps: Pick<WorkspaceDeps, 'store' | 'clock' | 'policy'>, agent: AgentIdentity): Promise<Workspace> {
  const at = deps.clock.now().toISOString();
  const updated = await deps.store.touch(agent, {
    at,
    dueAt: idleStopAt(at, deps.policy),
    workspaceId: agent.workspaceId,
    generation: agent.generation,
  });
  if (!updated) throw new NotFoundError('No running workspace matches this agent');
  return updated;
}
