import type { WorkspaceDeps } from '../deps.js';
import { amend, describeError, failWorkspace, hostnameOf, keyFromTags, transition, update } from '../lifecycle.js';
import type { ComputeEvent } from '../ports.js';
import type { Workspace } from '../workspace.js';

export type EventOutcome = { readonly applied: boolean; readonly state?: Workspace['state']; readonly note?: string };

/**
 * Advance a workspace from a compute event (EventBridge on AWS, the supervisor locally).
 * `tags`, when the event source knows them, find a record whose instance id is not recorded yet
 * (an event can overtake the write that records the launch).
 */
export async function handleComputeEvent(
  deps: WorkspaceDeps,
  event: ComputeEvent,
  tags?: Readonly<Record<string, string>>,
): Promise<EventOutcome> {
  const ws = await findOwner(deps, event.instanceId, tags);
  if (!ws) {
    deps.log.warn('compute event for an unknown instance ignored', { kind: event.kind, instanceId: event.instanceId });
    return { applied: false, note: 'unknown instance' };
  }
  const now = () => deps.clock.now();
  const same = (current: Workspace) => current.generation === ws.generation && (!current.instanceId || current.instanceId === event.instanceId);

  switch (event.kind) {
    case 'running': {
      const hostname = ws.hostLabel ? hostnameOf(ws.hostLabel, deps.hostnames.deskDomain) : undefined;
      if (ws.state !== 'starting' || !hostname) return ignored(ws, event);
      try {
        await deps.hostnames.assign(hostname, event.address);
      } catch (error) {
        const failed = await failWorkspace(deps, ws, `Could not publish the workspace address: ${describeError(error)}`, ws.generation);
        return { applied: true, state: failed?.state };
      }
      return applied(
        await update(deps, ws, (current) =>
          same(current) && current.state === 'starting'
            ? transition(current, 'provisioning', now(), deps.policy, { instanceId: event.instanceId, address: event.address, hostname })
            : undefined,
        ),
      );
    }
    case 'tool-ready':
      return applied(
        await update(deps, ws, (current) => {
          if (!same(current) || (current.state !== 'provisioning' && current.state !== 'starting')) return undefined;
          const at = now();
          return transition(current, 'ready', at, deps.policy, { lastActivityAt: at.toISOString(), instanceId: event.instanceId });
        }),
      );
    case 'stopped':
      return applied(
        await update(deps, ws, (current) => {
          if (!same(current)) return undefined;
          if (current.state === 'stopping') return transition(current, 'stopped', now(), deps.policy);
          if (current.state === 'ready' || current.state === 'provisioning') {
            return transition(current, 'stopped', now(), deps.policy, { reason: 'The workspace was stopped outside carrel' });
          }
          return undefined;
        }),
        async (after) => {
          if (after.hostname) await deps.hostnames.release(after.hostname).catch(() => undefined);
        },
      );
    case 'terminated':
      return applied(
        await update(deps, ws, (current) => {
          if (!same(current)) return undefined;
          if (current.state === 'terminating') return transition(current, 'terminated', now(), deps.policy, { instanceId: undefined, hostname: undefined, address: undefined });
          if (current.state === 'failed') return amend(current, { instanceId: undefined }, deps.policy);
          if (['starting', 'provisioning', 'ready', 'stopping', 'stopped'].includes(current.state)) {
            return transition(current, 'failed', now(), deps.policy, { reason: 'The workspace instance was terminated unexpectedly' });
          }
          return undefined;
        }),
        async (after) => {
          if (after.hostname) await deps.hostnames.release(after.hostname).catch(() => undefined);
        },
      );
    case 'failed': {
      if (!['starting', 'provisioning', 'ready'].includes(ws.state)) return ignored(ws, event);
      const failed = await failWorkspace(deps, ws, event.reason, ws.generation);
      return { applied: Boolean(failed), state: failed?.state };
    }
  }
}

async function findOwner(deps: WorkspaceDeps, instanceId: string, tags?: Readonly<Record<string, string>>) {
  const byInstance = await deps.store.findByInstance(instanceId);
  if (byInstance) return byInstance;
  const key = tags ? keyFromTags(tags) : undefined;
  if (!key) return undefined;
  const ws = await deps.store.get(key);
  return ws && ws.generation === key.generation && !ws.instanceId ? ws : undefined;
}

function ignored(ws: Workspace, event: ComputeEvent): EventOutcome {
  return { applied: false, state: ws.state, note: `${event.kind} ignored in state ${ws.state}` };
}

async function applied(
  result: { readonly before: Workspace; readonly after: Workspace } | undefined,
  then?: (after: Workspace) => Promise<void>,
): Promise<EventOutcome> {
  if (!result) return { applied: false, note: 'no transition applies' };
  if (then) await then(result.after);
  return { applied: true, state: result.after.state };
}
