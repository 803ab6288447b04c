import type { WorkspaceDeps } from '../deps.js';
import { describeError, failWorkspace, hostnameOf, keyFromTags, transition, update } from '../lifecycle.js';
import { idleVerdict } from '../policy.js';
import { spareFromTags } from '../pool.js';
import type { InstanceView } from '../ports.js';
import type { Workspace } from '../workspace.js';
import { listSpares, replenishPool } from './pool.js';
import { stopWorkspace } from './stop.js';

export interface HousekeepingReport {
  examined: number;
  readonly stoppedIdle: string[];
  readonly failedOverdue: string[];
  readonly terminated: string[];
  readonly orphanInstances: string[];
  readonly orphanHostnames: string[];
  /** Warm pool: spares launched and retired in this pass. */
  readonly sparesLaunched: string[];
  readonly sparesRetired: string[];
  readonly errors: string[];
}

const label = (ws: Workspace) => `${ws.analysisId}/${ws.userId}`;

/**
 * One housekeeping pass: act on every record that is due (idle, past its deadline, past retention),
 * then reconcile the cloud against the store so nothing runs that no record owns.
 */
export async function housekeepingPass(deps: WorkspaceDeps, batch = 100): Promise<HousekeepingReport> {
  const now = deps.clock.now();
  const report: HousekeepingReport = {
    examined: 0,
    stoppedIdle: [],
    failedOverdue: [],
    terminated: [],
    orphanInstances: [],
    orphanHostnames: [],
    sparesLaunched: [],
    sparesRetired: [],
    errors: [],
  };
  const due = await deps.store.findDue(now.toISOString(), batch);
  for (const ws of due) {
    report.examined++;
    try {
      await actOnDue(deps, ws, now, report);
    } catch (error) {
      report.errors.push(`${label(ws)}: ${describeError(error)}`);
      deps.log.error('housekeeping could not act on a workspace', { analysisId: ws.analysisId, userId: ws.userId, error: describeError(error) });
    }
  }
  try {
    const pool = await replenishPool(deps);
    report.sparesLaunched.push(...pool.launched);
    report.sparesRetired.push(...pool.retired);
    report.errors.push(...pool.errors);
  } catch (error) {
    report.errors.push(`warm pool: ${describeError(error)}`);
    deps.log.error('warm pool upkeep failed', { error: describeError(error) });
  }
  try {
    await reconcile(deps, report);
  } catch (error) {
    report.errors.push(`reconcile: ${describeError(error)}`);
    deps.log.error('reconciliation failed', { error: describeError(error) });
  }
  if (report.examined || report.orphanInstances.length || report.orphanHostnames.length || report.sparesLaunched.length || report.sparesRetired.length) deps.log.info('housekeeping pass', { ...report });
  return report;
}

async function actOnDue(deps: WorkspaceDeps, ws: Workspace, now: Date, report: HousekeepingReport) {
  // `ws` comes from the due query and may be stale by now: every decision is checked again against the
  // current record inside the conditional write, so a heartbeat or an event that lands in between wins.
  switch (ws.state) {
    case 'ready': {
      const idle = (current: Workspace) => idleVerdict(current.lastActivityAt ?? current.stateEnteredAt, now, deps.policy).kind === 'idle';
      if (!idle(ws)) return;
      const stopped = await stopWorkspace(deps, ws, 'Stopped after being idle', (current) =>
        current.state === 'ready' && current.generation === ws.generation && idle(current),
      );
      if (stopped) report.stoppedIdle.push(label(ws));
      return;
    }
    case 'starting':
    case 'provisioning':
    case 'terminating': {
      const failed = await failWorkspace(deps, ws, overdueReason(ws), ws.generation, { when: stillDue(ws, now) });
      if (failed) report.failedOverdue.push(label(ws));
      return;
    }
    case 'stopping':
    case 'stopped': {
      // A stop that never completed, or retention that ended: terminate; the home is kept.
      const result = await update(deps, ws, (current) => {
        if (!stillDue(ws, now)(current)) return undefined;
        const terminating = transition(current, 'terminating', now, deps.policy);
        // Nothing to wait for when no instance is recorded: finish at once rather than wait out a deadline.
        return current.instanceId
          ? terminating
          : transition(terminating, 'terminated', now, deps.policy, { hostname: undefined, address: undefined });
      });
      if (!result) return;
      if (result.after.instanceId) {
        const outcome = await deps.compute.terminate(result.after.instanceId);
        // Already gone: no `terminated` event will come, so finish here instead of waiting out a deadline.
        if (outcome?.gone) await finishTermination(deps, result.after, now);
      }
      report.terminated.push(label(ws));
      return;
    }
    default:
      return;
  }
}

async function finishTermination(deps: WorkspaceDeps, ws: Workspace, now: Date) {
  await update(deps, ws, (current) =>
    current.state === 'terminating' && current.generation === ws.generation && current.instanceId === ws.instanceId
      ? transition(current, 'terminated', now, deps.policy, { instanceId: undefined, hostname: undefined, address: undefined })
      : undefined,
  );
}

/** The current record is in the state and generation housekeeping found, and still due at `now`. */
function stillDue(found: Workspace, now: Date): (current: Workspace) => boolean {
  return (current) =>
    current.state === found.state &&
    current.generation === found.generation &&
    current.dueAt !== undefined &&
    Date.parse(current.dueAt) <= now.getTime();
}

function overdueReason(ws: Workspace): string {
  const what: Record<string, string> = {
    starting: 'The workspace did not start in time',
    provisioning: `${ws.tool === 'jupyter' ? 'Jupyter' : ws.tool} did not become ready in time`,
    terminating: 'The workspace could not be removed in time',
  };
  return what[ws.state] ?? `The workspace was stuck in ${ws.state}`;
}

/** Terminate instances and remove hostnames that no live record (workspace or spare) owns. */
async function reconcile(deps: WorkspaceDeps, report: HousekeepingReport) {
  const instances = await deps.compute.listTagged();
  const spareSizes = instances.flatMap((instance) => spareFromTags(instance.tags)?.size ?? []);
  const spares = await listSpares(deps, spareSizes);
  const spareInstances = new Set(spares.flatMap((spare) => spare.instanceId ?? []));
  // Launched but not recorded yet: the spare's record names no instance, the instance names the spare.
  const sparesLaunching = new Set(spares.filter((spare) => !spare.instanceId).map((spare) => spare.spareId));
  const ownedHosts = new Set<string>(spares.filter((spare) => spare.publishedAt).map((spare) => hostnameOf(spare.hostLabel, deps.hostnames.deskDomain)));
  for (const instance of instances) {
    if (instance.state === 'terminated') continue;
    const key = keyFromTags(instance.tags);
    const owner = key ? await deps.store.get(key) : undefined;
    if (owner && owns(owner, instance, key?.generation)) {
      if (owner.hostLabel && ['starting', 'provisioning', 'ready'].includes(owner.state)) {
        ownedHosts.add(hostnameOf(owner.hostLabel, deps.hostnames.deskDomain));
      }
      continue;
    }
    // A spare (or a spare being taken, whose record the pool still keeps) is the pool's.
    if (spareInstances.has(instance.instanceId)) continue;
    const spareRef = spareFromTags(instance.tags);
    if (spareRef && !key && sparesLaunching.has(spareRef.spareId)) continue;
    try {
      await deps.compute.terminate(instance.instanceId);
      report.orphanInstances.push(instance.instanceId);
      deps.log.warn('terminated an instance no record owns', { instanceId: instance.instanceId, tags: instance.tags });
    } catch (error) {
      report.errors.push(`terminate ${instance.instanceId}: ${describeError(error)}`);
    }
  }
  for (const hostname of await deps.hostnames.list()) {
    if (ownedHosts.has(hostname)) continue;
    try {
      await deps.hostnames.release(hostname);
      report.orphanHostnames.push(hostname);
    } catch (error) {
      report.errors.push(`release ${hostname}: ${describeError(error)}`);
    }
  }
}

function owns(owner: Workspace, instance: InstanceView, generation: number | undefined): boolean {
  if (owner.state === 'terminated' || owner.state === 'failed') return false;
  const workspaceTag = instance.tags['carrel:workspace'];
  if (workspaceTag !== undefined && workspaceTag !== owner.workspaceId) return false;
  if (owner.instanceId === instance.instanceId) return true;
  // A resume that replaces the instance (a new Fargate task) before the record adopts it: the
  // replacement carries the current generation's tags.
  if (owner.instanceId && owner.resumed && owner.state === 'starting') return generation === owner.generation && workspaceTag === owner.workspaceId;
  if (owner.instanceId) return false;
  // Launched but not recorded yet: the current generation's instance is owned until the deadline fails it
  // (also when a stop overtook the launch: the launch records it and stops it).
  return (owner.state === 'starting' || owner.state === 'stopping') && generation === owner.generation;
}
