import type { WorkspaceDeps } from '../deps.js';
import { amend, describeError, failWorkspace, hostnameOf, keyFromTags, transition, update } from '../lifecycle.js';
import type { ComputeEvent } from '../ports.js';
import type { Workspace } from '../workspace.js';
import { handleSpareEvent } from './pool.js';

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
    const spare = await handleSpareEvent(deps, event, tags);
    if (spare) return spare;
    deps.log.warn('compute event for an unknown instance ignored', { kind: event.kind, instanceId: event.instanceId });
    return { applied: false, note: 'unknown instance' };
  }
  const now = () => deps.clock.now();
  const same = (current: Workspace) => current.generation === ws.generation && (!current.instanceId || current.instanceId === event.instanceId);

  switch (event.kind) {
    case 'running':
      if (ws.state !== 'starting') return ignored(ws, event);
      return publishAndAdvance(deps, ws, event.instanceId, event.address, 'provisioning');
    case 'tool-ready':
      if (ws.state === 'starting') {
        // The tool answered before `running` was handled: complete the start only if the address is known.
        if (!event.address) return ignored(ws, event);
        return publishAndAdvance(deps, ws, event.instanceId, event.address, 'ready');
      }
      return applied(
        await update(deps, ws, (current) => {
          if (!same(current) || current.state !== 'provisioning') return undefined;
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
        (before) => releaseQuietly(deps, before.hostname),
      );
    case 'terminated':
      return applied(
        await update(deps, ws, (current) => {
          if (!same(current)) return undefined;
          if (current.state === 'terminating') return transition(current, 'terminated', now(), deps.policy, { instanceId: undefined, hostname: undefined, address: undefined });
          if (current.state === 'failed') return current.instanceId ? amend(current, { instanceId: undefined }, deps.policy) : undefined;
          if (['starting', 'provisioning', 'ready', 'stopping', 'stopped'].includes(current.state)) {
            return transition(current, 'failed', now(), deps.policy, { reason: 'The workspace instance was terminated unexpectedly' });
          }
          return undefined;
        }),
        (before) => releaseQuietly(deps, before.hostname),
      );
    case 'failed': {
      if (!['starting', 'provisioning', 'ready'].includes(ws.state)) return ignored(ws, event);
      const failed = await failWorkspace(deps, ws, event.reason, ws.generation, { alsoTerminate: event.instanceId });
      return { applied: Boolean(failed), state: failed?.state };
    }
  }
}

/**
 * Publish `ws-<label>.<desk domain>` for the instance's address, then record it with the move to `to`
 * (provisioning after `running`, or ready when `tool-ready` carries the address).
 */
async function publishAndAdvance(
  deps: WorkspaceDeps,
  ws: Workspace,
  instanceId: string,
  address: string,
  to: 'provisioning' | 'ready',
): Promise<EventOutcome> {
  if (!ws.hostLabel) return { applied: false, state: ws.state, note: 'no host label' };
  const hostname = hostnameOf(ws.hostLabel, deps.hostnames.deskDomain);
  try {
    await deps.hostnames.assign(hostname, address);
  } catch (error) {
    const failed = await failWorkspace(deps, ws, `Could not publish the workspace address: ${describeError(error)}`, ws.generation, {
      when: (current) => current.state === 'starting',
      alsoTerminate: instanceId,
    });
    return { applied: Boolean(failed), state: failed?.state };
  }
  const result = await update(deps, ws, (current) => {
    if (current.generation !== ws.generation || (current.instanceId && current.instanceId !== instanceId)) return undefined;
    if (current.state !== 'starting') return undefined;
    const at = deps.clock.now();
    const activity = to === 'ready' ? { lastActivityAt: at.toISOString() } : {};
    return transition(current, to, at, deps.policy, { instanceId, address, hostname, ...activity });
  });
  if (!result) {
    // The record moved on while the name was being published (the tool failed, the user stopped):
    // whoever moved it could not know this name yet, so take it back unless the record now holds it.
    const current = await deps.store.get(ws);
    if (current?.hostname !== hostname) await releaseQuietly(deps, hostname);
    return applied(result);
  }
  if (to === 'provisioning' && deps.provisioner) {
    try {
      await deps.provisioner.provision(result.after);
    } catch (error) {
      const failed = await failWorkspace(deps, result.after, `Could not start provisioning: ${describeError(error)}`, ws.generation, {
        when: (current) => current.state === 'provisioning',
        alsoTerminate: instanceId,
      });
      return { applied: true, state: failed?.state ?? result.after.state };
    }
  }
  return applied(result);
}

function releaseQuietly(deps: WorkspaceDeps, hostname: string | undefined): Promise<void> {
  if (!hostname) return Promise.resolve();
  return deps.hostnames.release(hostname).catch((error) =>
    deps.log.error('hostname release failed; reconciliation will retry', { hostname, error: describeError(error) }),
  );
}

async function findOwner(deps: WorkspaceDeps, instanceId: string, tags?: Readonly<Record<string, string>>) {
  const byInstance = await deps.store.findByInstance(instanceId);
  if (byInstance) return byInstance;
  const key = tags ? keyFromTags(tags) : undefined;
  if (!key) return undefined;
  const ws = await deps.store.get(key);
  // The index may lag the record on DynamoDB: accept the record that already names this instance.
  return ws && ws.generation === key.generation && (!ws.instanceId || ws.instanceId === instanceId) ? ws : undefined;
}

function ignored(ws: Workspace, event: ComputeEvent): EventOutcome {
  return { applied: false, state: ws.state, note: `${event.kind} ignored in state ${ws.state}` };
}

async function applied(
  result: { readonly before: Workspace; readonly after: Workspace } | undefined,
  then?: (before: Workspace) => Promise<void>,
): Promise<EventOutcome> {
  if (!result) return { applied: false, note: 'no transition applies' };
  if (then) await then(result.before);
  return { applied: true, state: result.after.state };
}
