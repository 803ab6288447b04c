import type { WorkspaceDeps } from '../deps.js';
import { ConflictError, NotAllowedError, NotFoundError } from '../errors.js';
import { hostnameOf } from '../lifecycle.js';
import type { TaskIdentityPort } from '../ports.js';
import type { Workspace } from '../workspace.js';

/** States in which a workspace's task may still be starting its gate. */
const BOOTSTRAPPABLE: readonly Workspace['state'][] = ['starting', 'provisioning', 'ready'];

export interface Bootstrapped {
  readonly workspace: Workspace;
  /** `ws-<label>.<desk domain>`: chosen at open, so known before the task has an address. */
  readonly hostname: string;
  readonly hostLabel: string;
}

/**
 * A workspace task asks for its own settings at start-up (Fargate: nothing secret travels in RunTask).
 * The task proves who it is (`taskIdentity`); the answer is the workspace whose current instance is that
 * task, and only when the task runs as that workspace's role, so no task can obtain another's settings.
 * Refusals: unproven → UnauthenticatedError; no record names the task (yet: the launch write or the index
 * may lag by a moment) → NotFoundError; wrong role → NotAllowedError; a workspace no longer starting or
 * running → ConflictError.
 */
export async function bootstrapWorkspace(
  deps: Pick<WorkspaceDeps, 'store' | 'hostnames' | 'log'> & { readonly taskIdentity?: TaskIdentityPort },
  proof: unknown,
): Promise<Bootstrapped> {
  if (!deps.taskIdentity) throw new NotFoundError('This desk has no Fargate workspaces to bootstrap');
  const identity = await deps.taskIdentity.identify(proof);
  const ws = await deps.store.findByInstance(identity.instanceId);
  if (!ws) {
    deps.log.warn('bootstrap refused: no workspace runs as this task', { instanceId: identity.instanceId });
    throw new NotFoundError('No workspace of this desk runs as this task (yet)');
  }
  const key = { analysisId: ws.analysisId, userId: ws.userId, generation: ws.generation, instanceId: identity.instanceId };
  const expected = deps.taskIdentity.roleFor(ws);
  if (identity.role !== expected) {
    deps.log.warn('bootstrap refused: the task runs as another role', { ...key, role: identity.role, expected });
    throw new NotAllowedError(`This task runs as role ${identity.role}, not as its workspace's role ${expected}`);
  }
  if (!BOOTSTRAPPABLE.includes(ws.state) || !ws.hostLabel) {
    deps.log.warn('bootstrap refused: the workspace is not starting or running', { ...key, state: ws.state });
    throw new ConflictError(`The workspace is ${ws.state}; its task has nothing to start`);
  }
  deps.log.info('workspace bootstrap answered', key);
  return { workspace: ws, hostname: hostnameOf(ws.hostLabel, deps.hostnames.deskDomain), hostLabel: ws.hostLabel };
}
