import type { WarmPool, WorkspaceDeps } from '../deps.js';
import { newHostLabel, randomLabel } from '../ids.js';
import { describeError, hostnameOf } from '../lifecycle.js';
import { isClaimable, spareExpiry, spareFromTags, spareTags, type Spare } from '../pool.js';
import type { ComputeEvent } from '../ports.js';
import type { WorkspaceKey } from '../workspace.js';
import type { EventOutcome } from './compute-events.js';

export interface PoolReport {
  readonly launched: string[];
  readonly retired: string[];
  readonly errors: string[];
}

type PoolDeps = WorkspaceDeps & { readonly pool: WarmPool };

/**
 * Spares launched per housekeeping pass, all sizes together: a launch with capacity fallback can take a few
 * seconds, and a pass must end well within its schedule; the next pass goes on where this one stopped.
 */
export const MAX_SPARE_LAUNCHES_PER_PASS = 5;

/** The pool is on when it is configured and compute can launch and hand over spares. */
export function poolEnabled(deps: WorkspaceDeps): deps is PoolDeps {
  return Boolean(deps.pool && deps.compute.launchSpare && deps.compute.adopt);
}

/**
 * Keep each size's pool at its target: retire spares that are late, too old or whose claim never
 * completed, then launch replacements. Runs on housekeeping's schedule; a launch is idempotent on the
 * spare's id, so an overlapping pass cannot launch the same spare twice (it may launch one spare too
 * many, which the next pass leaves alone until it ages out).
 */
export async function replenishPool(deps: WorkspaceDeps): Promise<PoolReport> {
  const report: PoolReport = { launched: [], retired: [], errors: [] };
  if (!poolEnabled(deps)) return report;
  const now = deps.clock.now();
  let launches = 0;
  for (const [size, target] of Object.entries(deps.pool.policy.targets)) {
    let live = 0;
    for (const spare of await deps.pool.store.list(size)) {
      const expiry = spareExpiry(spare, now, deps.pool.policy);
      if (!expiry) {
        live++;
        continue;
      }
      try {
        if (await retireSpare(deps, spare, expiry)) report.retired.push(spare.spareId);
      } catch (error) {
        report.errors.push(`retire spare ${spare.spareId}: ${describeError(error)}`);
      }
    }
    for (let n = live; n < target && launches < MAX_SPARE_LAUNCHES_PER_PASS; n++) {
      launches++;
      try {
        const spare = await launchSpare(deps, size);
        if (!spare) break;
        report.launched.push(spare.spareId);
      } catch (error) {
        // No capacity now is the common case: the next pass tries again.
        report.errors.push(`launch a ${size} spare: ${describeError(error)}`);
        break;
      }
    }
  }
  if (report.launched.length || report.retired.length || report.errors.length) deps.log.info('warm pool', { ...report });
  return report;
}

/** Record a spare, then launch its instance (the record first, so reconciliation never sees an unowned spare). */
async function launchSpare(deps: PoolDeps, size: string): Promise<Spare | undefined> {
  const at = deps.clock.now().toISOString();
  const spare: Spare = { size, spareId: randomLabel(16), state: 'launching', version: 1, hostLabel: newHostLabel(), createdAt: at, stateEnteredAt: at };
  if (!(await deps.pool.store.put(spare, null))) return undefined;
  let instanceId: string;
  try {
    ({ instanceId } = await deps.compute.launchSpare!({ size, clientToken: `spare-${spare.spareId}`, tags: spareTags(spare, deps.deploymentId) }));
  } catch (error) {
    await deps.pool.store.remove(spare);
    throw error;
  }
  const warming: Spare = { ...spare, state: 'warming', instanceId, version: spare.version + 1, stateEnteredAt: deps.clock.now().toISOString() };
  if (await deps.pool.store.put(warming, spare.version)) return warming;
  // The record changed under the launch (a running event recorded it first): keep whatever it says.
  return (await deps.pool.store.get(size, spare.spareId)) ?? warming;
}

/** Terminate a spare's instance, remove its hostname, delete its record. False when the record changed meanwhile. */
async function retireSpare(deps: PoolDeps, spare: Spare, why: string): Promise<boolean> {
  if (spare.state === 'claimed' && spare.claimedBy) {
    // The instance may already belong to the workspace that claimed it (the record names it): then only
    // the spare record is left to delete.
    const owner = await deps.store.get(spare.claimedBy);
    if (owner && owner.instanceId === spare.instanceId) return deps.pool.store.remove(spare);
  }
  if (!(await deps.pool.store.remove(spare))) return false;
  deps.log.warn('spare retired', { spareId: spare.spareId, size: spare.size, instanceId: spare.instanceId, why });
  if (spare.instanceId) {
    await deps.compute.terminate(spare.instanceId).catch((error) =>
      deps.log.error('terminate failed; reconciliation will retry', { instanceId: spare.instanceId, error: describeError(error) }),
    );
  }
  if (spare.publishedAt) {
    const hostname = hostnameOf(spare.hostLabel, deps.hostnames.deskDomain);
    await deps.hostnames.release(hostname).catch((error) =>
      deps.log.error('hostname release failed; reconciliation will retry', { hostname, error: describeError(error) }),
    );
  }
  return true;
}

/**
 * A compute event for an instance no workspace owns: if it is a spare, advance the spare. `running`
 * publishes its hostname and makes it available; a spare whose instance stopped, ended or failed is retired.
 */
export async function handleSpareEvent(
  deps: WorkspaceDeps,
  event: ComputeEvent,
  tags: Readonly<Record<string, string>> | undefined,
): Promise<EventOutcome | undefined> {
  const ref = tags ? spareFromTags(tags) : undefined;
  if (!ref || !poolEnabled(deps)) return undefined;
  const spare = await deps.pool.store.get(ref.size, ref.spareId);
  if (!spare || (spare.instanceId && spare.instanceId !== event.instanceId)) return undefined;
  if (spare.state === 'claimed') return { applied: false, note: `${event.kind} ignored: the spare is being taken by a workspace` };
  switch (event.kind) {
    case 'running': {
      if (spare.state === 'available') return { applied: false, note: 'the spare is available already' };
      const hostname = hostnameOf(spare.hostLabel, deps.hostnames.deskDomain);
      try {
        await deps.hostnames.assign(hostname, event.address);
      } catch (error) {
        await retireSpare(deps, { ...spare, publishedAt: deps.clock.now().toISOString(), instanceId: event.instanceId }, `could not publish ${hostname}: ${describeError(error)}`);
        return { applied: true, note: 'spare retired' };
      }
      const at = deps.clock.now().toISOString();
      const available: Spare = { ...spare, state: 'available', instanceId: event.instanceId, address: event.address, publishedAt: at, stateEnteredAt: at, version: spare.version + 1 };
      if (!(await deps.pool.store.put(available, spare.version))) return { applied: false, note: 'the spare changed meanwhile' };
      deps.log.info('spare available', { spareId: spare.spareId, size: spare.size, instanceId: event.instanceId, hostname });
      return { applied: true, note: 'spare available' };
    }
    case 'stopped':
    case 'terminated':
    case 'failed': {
      const retired = await retireSpare(deps, { ...spare, instanceId: spare.instanceId ?? event.instanceId }, `its instance ${event.kind === 'failed' ? `failed: ${event.reason}` : event.kind}`);
      return { applied: retired, note: retired ? 'spare retired' : 'the spare changed meanwhile' };
    }
    case 'tool-ready':
      return { applied: false, note: 'tool-ready ignored for a spare' };
  }
}

/**
 * Claim the oldest available spare of `size` for a workspace generation (one conditional write, so two
 * opens never get the same spare). The claim is completed with `releaseClaim` once the workspace
 * record owns the instance, or undone with `returnSpare`.
 */
export async function claimSpare(deps: WorkspaceDeps, size: string, claimer: WorkspaceKey & { readonly generation: number }): Promise<Spare | undefined> {
  if (!poolEnabled(deps) || !(deps.pool.policy.targets[size] > 0)) return undefined;
  const now = deps.clock.now();
  const candidates = (await deps.pool.store.list(size))
    .filter((spare) => isClaimable(spare, now, deps.pool.policy))
    .sort((a, b) => a.publishedAt!.localeCompare(b.publishedAt!));
  for (const spare of candidates) {
    const claimed: Spare = {
      ...spare,
      state: 'claimed',
      claimedBy: { analysisId: claimer.analysisId, userId: claimer.userId, generation: claimer.generation },
      stateEnteredAt: now.toISOString(),
      version: spare.version + 1,
    };
    if (await deps.pool.store.put(claimed, spare.version)) return claimed;
  }
  return undefined;
}

/** The workspace record owns the claimed spare's instance now: the spare record goes. */
export async function releaseClaim(deps: PoolDeps, spare: Spare): Promise<void> {
  await deps.pool.store.remove(spare).catch((error) =>
    deps.log.error('spare record not deleted; housekeeping will', { spareId: spare.spareId, error: describeError(error) }),
  );
}

/** Give a claimed spare back (the open could not use it), or retire it when it can no longer be trusted. */
export async function returnSpare(deps: PoolDeps, spare: Spare, options: { readonly retire?: string } = {}): Promise<void> {
  try {
    if (options.retire) {
      await retireSpare(deps, spare, options.retire);
      return;
    }
    const back: Spare = { ...spare, state: 'available', claimedBy: undefined, stateEnteredAt: deps.clock.now().toISOString(), version: spare.version + 1 };
    await deps.pool.store.put(back, spare.version);
  } catch (error) {
    deps.log.error('spare not returned; housekeeping will retire it', { spareId: spare.spareId, error: describeError(error) });
  }
}

/** Every spare of the sizes the pool keeps or that `extraSizes` name, for reconciliation. */
export async function listSpares(deps: WorkspaceDeps, extraSizes: Iterable<string> = []): Promise<readonly Spare[]> {
  if (!deps.pool) return [];
  const sizes = new Set([...Object.keys(deps.pool.policy.targets), ...extraSizes]);
  const spares: Spare[] = [];
  for (const size of sizes) spares.push(...(await deps.pool.store.list(size)));
  return spares;
}
