import type { WorkspaceDeps } from '../deps.js';
import { NotAllowedError, NotFoundError } from '../errors.js';
import { newHostLabel, newWorkspaceId } from '../ids.js';
import { amend, describeError, failWorkspace, HOME_TAG, hostnameOf, transition, update, workspaceTags } from '../lifecycle.js';
import { deadlineFor, dueAtFor } from '../policy.js';
import type { Analysis, User } from '../ports.js';
import { RELAUNCHABLE_STATES, type Workspace, type WorkspaceKey } from '../workspace.js';
import { claimSpare, poolEnabled, releaseClaim, returnSpare } from './pool.js';

/** Check the user may use the analysis; returns it. */
export async function authorize(deps: Pick<WorkspaceDeps, 'catalog'>, user: User, analysisId: string): Promise<Analysis> {
  const analysis = await deps.catalog.get(analysisId, user);
  if (!analysis) throw new NotFoundError(`There is no analysis "${analysisId}"`);
  if (!analysis.members.includes(user.userId)) {
    throw new NotAllowedError(`You are not a researcher on analysis "${analysisId}"`);
  }
  return analysis;
}

/**
 * Open the user's workspace for an analysis: returns the record at once. Exactly one caller wins the
 * conditional write that claims a launch (or resume); every other tab or retry just sees the record.
 */
export async function openWorkspace(deps: WorkspaceDeps, user: User, analysisId: string): Promise<Workspace> {
  const analysis = await authorize(deps, user, analysisId);
  const key: WorkspaceKey = { analysisId, userId: user.userId };
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await deps.store.get(key);
    if (current && !RELAUNCHABLE_STATES.includes(current.state) && current.state !== 'stopped') return current;
    const now = deps.clock.now();
    const claimed = current?.state === 'stopped' && current.instanceId ? claimResume(deps, current, now) : claimLaunch(deps, analysis, key, current, now);
    if (!(await deps.store.put(claimed, current ? current.version : null))) continue;
    deps.log.info('workspace launch claimed', { ...key, generation: claimed.generation, resumed: claimed.resumed });
    return claimed.resumed ? resume(deps, claimed) : launch(deps, claimed);
  }
  return (await deps.store.get(key)) as Workspace;
}

function claimLaunch(deps: WorkspaceDeps, analysis: Analysis, key: WorkspaceKey, current: Workspace | undefined, now: Date): Workspace {
  const patch = {
    generation: (current?.generation ?? 0) + 1,
    hostLabel: newHostLabel(),
    hostname: undefined,
    instanceId: undefined,
    address: undefined,
    reason: undefined,
    lastActivityAt: undefined,
    resumed: false,
    tool: analysis.tool,
    size: analysis.size,
  };
  if (current) return transition(current, 'starting', now, deps.policy, patch);
  const at = now.toISOString();
  const fresh: Workspace = {
    ...key,
    ...patch,
    workspaceId: newWorkspaceId(),
    state: 'starting',
    version: 1,
    createdAt: at,
    stateEnteredAt: at,
    deadlineAt: deadlineFor('starting', now, deps.policy),
  };
  return { ...fresh, dueAt: dueAtFor(fresh, deps.policy) };
}

function claimResume(deps: WorkspaceDeps, current: Workspace, now: Date): Workspace {
  return transition(current, 'starting', now, deps.policy, {
    generation: current.generation + 1,
    hostLabel: newHostLabel(),
    hostname: undefined,
    address: undefined,
    reason: undefined,
    lastActivityAt: undefined,
    resumed: true,
  });
}

async function launch(deps: WorkspaceDeps, ws: Workspace): Promise<Workspace> {
  const onSpare = await takeSpare(deps, ws);
  if (onSpare) return onSpare;
  let instanceId: string;
  try {
    const home = await deps.homes.ensure(ws);
    ({ instanceId } = await deps.compute.launch({
      workspace: ws,
      clientToken: `${ws.workspaceId}-${ws.generation}`,
      home,
      tags: { ...workspaceTags(ws, deps.deploymentId), [HOME_TAG]: home.homeId },
    }));
  } catch (error) {
    return (
      (await failWorkspace(deps, ws, `Could not start the workspace: ${describeError(error)}`, ws.generation)) ?? (await reread(deps, ws))
    );
  }
  const recorded = await update(deps, ws, (current) => {
    if (current.generation !== ws.generation || current.instanceId) return undefined;
    return amend(current, { instanceId }, deps.policy);
  });
  if (!recorded) {
    const current = await deps.store.get(ws);
    // The record moved on to another generation while this launch was in flight: nothing owns the instance.
    if (!current || current.generation !== ws.generation) await stopQuietly(deps, 'terminate', instanceId);
    return current ?? ws;
  }
  const after = recorded.after;
  // A stop or a failure overtook the launch (the record had no instance id to act on then): act now.
  if (after.state === 'stopping') await stopQuietly(deps, 'stop', instanceId);
  if (after.state === 'failed' || after.state === 'terminating' || after.state === 'terminated') {
    await stopQuietly(deps, 'terminate', instanceId);
  }
  return after;
}

async function stopQuietly(deps: WorkspaceDeps, action: 'stop' | 'terminate', instanceId: string): Promise<void> {
  try {
    await deps.compute[action](instanceId);
  } catch (error) {
    deps.log.error(`${action} failed; housekeeping will retry`, { instanceId, error: describeError(error) });
  }
}

async function reread(deps: WorkspaceDeps, ws: Workspace): Promise<Workspace> {
  return (await deps.store.get(ws)) ?? ws;
}

async function resume(deps: WorkspaceDeps, ws: Workspace): Promise<Workspace> {
  if (deps.pool?.policy.forResume) {
    const onSpare = await takeSpare(deps, ws);
    if (onSpare) return onSpare;
  }
  let started: { readonly instanceId: string } | void;
  try {
    started = await deps.compute.start(ws.instanceId as string, ws);
  } catch (error) {
    return (
      (await failWorkspace(deps, ws, `Could not resume the workspace: ${describeError(error)}`, ws.generation)) ?? (await reread(deps, ws))
    );
  }
  if (!started || started.instanceId === ws.instanceId) return ws;
  // A replacement instance (e.g. a new Fargate task): the record adopts it for this generation.
  const replacement = started.instanceId;
  const recorded = await update(deps, ws, (current) =>
    current.generation === ws.generation && current.state === 'starting' ? amend(current, { instanceId: replacement }, deps.policy) : undefined,
  );
  return recorded?.after ?? (await reread(deps, ws));
}

/**
 * Move a just-claimed workspace generation onto a spare from the warm pool, if one is available: the
 * spare's instance runs and its hostname has propagated, so the record goes straight to `provisioning`
 * and the provisioner mounts the home and starts the tool. A resumed workspace's stopped instance is
 * terminated (its home is on EFS; nothing else of it is kept). Returns undefined when no spare was
 * taken: the caller launches or resumes as usual.
 */
async function takeSpare(deps: WorkspaceDeps, ws: Workspace): Promise<Workspace | undefined> {
  if (!poolEnabled(deps)) return undefined;
  let spare;
  try {
    spare = await claimSpare(deps, ws.size, ws);
  } catch (error) {
    deps.log.warn('warm pool unavailable; launching instead', { analysisId: ws.analysisId, userId: ws.userId, error: describeError(error) });
    return undefined;
  }
  if (!spare) return undefined;
  const instanceId = spare.instanceId as string;
  try {
    const home = await deps.homes.ensure(ws);
    await deps.compute.adopt!(instanceId, { ...workspaceTags(ws, deps.deploymentId), [HOME_TAG]: home.homeId });
  } catch (error) {
    deps.log.warn('could not take a spare; launching instead', { analysisId: ws.analysisId, userId: ws.userId, spareId: spare.spareId, error: describeError(error) });
    // The spare may carry this workspace's tags by now: retire it rather than hand it to someone else.
    await returnSpare(deps, spare, { retire: `taking it failed: ${describeError(error)}` });
    return undefined;
  }
  const previous = ws.instanceId;
  const hostname = hostnameOf(spare.hostLabel, deps.hostnames.deskDomain);
  const moved = await update(deps, ws, (current) => {
    if (current.generation !== ws.generation || current.state !== 'starting' || current.instanceId !== previous) return undefined;
    return transition(current, 'provisioning', deps.clock.now(), deps.policy, { instanceId, address: spare.address, hostLabel: spare.hostLabel, hostname });
  }).catch((error: unknown) => {
    deps.log.error('could not record the spare', { analysisId: ws.analysisId, userId: ws.userId, error: describeError(error) });
    return undefined;
  });
  if (!moved) {
    // The record moved on (a stop, a failure) while the spare was being taken: it now carries this
    // workspace's tags, so it cannot go back to the pool.
    await returnSpare(deps, spare, { retire: 'the workspace moved on while taking it' });
    return reread(deps, ws);
  }
  deps.log.info('workspace on a spare', { analysisId: ws.analysisId, userId: ws.userId, instanceId, spareId: spare.spareId, replaces: previous });
  let result = moved.after;
  if (deps.provisioner) {
    try {
      await deps.provisioner.provision(moved.after);
    } catch (error) {
      result =
        (await failWorkspace(deps, moved.after, `Could not start provisioning: ${describeError(error)}`, ws.generation, {
          when: (current) => current.state === 'provisioning',
        })) ?? (await reread(deps, ws));
    }
  }
  // Bookkeeping after the hand-off, so the tool's preparation starts first.
  await releaseClaim(deps, spare);
  if (previous) await stopQuietly(deps, 'terminate', previous);
  return result;
}
