/** Non-HTTP entry points: the housekeeping schedule and compute state changes. */
import { handleComputeEvent, housekeepingPass, type EventOutcome, type HousekeepingReport, type WorkspaceDeps } from '../core/index.js';
import { computeEventDetail } from './schemas.js';

/** `housekeeping`: one pass per scheduled event (the event itself carries nothing we need). */
export function makeHousekeepingHandler(deps: WorkspaceDeps): (event?: unknown) => Promise<HousekeepingReport> {
  return () => housekeepingPass(deps);
}

/**
 * What `compute-events` accepts for now: an EventBridge event whose `detail` is an already-normalized
 * `{ event: ComputeEvent, tags? }`, or that detail itself (the local supervisor). Issue 4 adds the mapping
 * of EC2/ECS state-change events.
 */
export type ComputeEventsInput = { readonly detail: unknown } | Record<string, unknown>;

/**
 * `compute-events`: advance the owning workspace. A malformed event is logged and dropped (retrying it
 * cannot help); failures of the store or the cloud are thrown so the invocation is retried.
 */
export function makeComputeEventsHandler(deps: WorkspaceDeps): (input: ComputeEventsInput) => Promise<EventOutcome> {
  return async (input) => {
    const raw = input && typeof input === 'object' && 'detail' in input ? input.detail : input;
    const parsed = computeEventDetail.safeParse(raw);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => `${['detail', ...issue.path.map(String)].join('.')} ${issue.message}`);
      deps.log.error('compute event dropped: not a normalized compute event', { issues });
      return { applied: false, note: `invalid event: ${issues.join('; ')}` };
    }
    const { event, tags } = parsed.data;
    const outcome = await handleComputeEvent(deps, event, tags);
    deps.log.info('compute event', { kind: event.kind, instanceId: event.instanceId, ...outcome });
    return outcome;
  };
}
