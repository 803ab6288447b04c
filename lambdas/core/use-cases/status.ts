import type { WorkspaceDeps } from '../deps.js';
import { NotFoundError } from '../errors.js';
import type { User } from '../ports.js';
import type { Workspace } from '../workspace.js';

/**
 * The status poll: exactly one read. The record's key includes the caller's own user id, so a record
 * exists only where open already checked membership.
 */
export async function getWorkspace(deps: Pick<WorkspaceDeps, 'store'>, user: User, analysisId: string): Promise<Workspace> {
  const ws = await deps.store.get({ analysisId, userId: user.userId });
  if (!ws) throw new NotFoundError(`You have no workspace for analysis "${analysisId}" yet`);
  return ws;
}
