/** Non-HTTP entry points: the housekeeping schedule and compute state changes. */
import * as z from 'zod';
import { handleComputeEvent, housekeepingPass, type EventOutcome, type HousekeepingReport, type WorkspaceDeps } from '../core/index.js';
import {
  EC2_STATE_CHANGE,
  ec2StateChangeEvent,
  ECS_TASK_STATE_CHANGE,
  ecsTaskStateChangeEvent,
  mapEc2StateChange,
  mapEcsTaskStateChange,
  type EcsMappingOptions,
  type InstanceLookup,
  type MappedEvent,
} from '../adapters/aws/compute-event-mapping.js';
import { computeEventDetail } from './schemas.js';

/** `housekeeping`: one pass per scheduled event (the event itself carries nothing we need). */
export function makeHousekeepingHandler(deps: WorkspaceDeps): (event?: unknown) => Promise<HousekeepingReport> {
  return () => housekeepingPass(deps);
}

/**
 * What `compute-events` accepts:
 * - an EventBridge `EC2 Instance State-change Notification` or `ECS Task State Change` (AWS), mapped by
 *   adapters/aws/compute-event-mapping.ts;
 * - an EventBridge event whose `detail` is an already-normalized `{ event: ComputeEvent, tags? }`;
 * - that detail itself (the local supervisor).
 */
export type ComputeEventsInput = { readonly detail: unknown } | Record<string, unknown>;

/** How raw AWS events are mapped: wired by aws-wiring.ts for the deployment's compute kind. */
export interface ComputeEventSources {
  /** EC2: facts about a running instance (its address and tags), from DescribeInstances. */
  readonly ec2?: { readonly lookup: InstanceLookup };
  /** Fargate: this deployment's tasks and the gate's port. */
  readonly ecs?: EcsMappingOptions;
}

export type ComputeEventsDeps = WorkspaceDeps & { readonly computeEventSources?: ComputeEventSources };

/** A normalized `tool-ready` may carry the address (core's ComputeEvent allows it). */
const toolReadyWithAddress = z.object({
  event: z.strictObject({
    kind: z.literal('tool-ready'),
    instanceId: z.string().min(1).max(2048),
    address: z.string().min(1, { error: 'must not be empty' }),
  }),
  tags: z.record(z.string(), z.string()).optional(),
});

/**
 * `compute-events`: advance the owning workspace. A malformed event, or one of a kind this handler does
 * not know, is logged and dropped (retrying it cannot help); failures of the store or the cloud are thrown
 * so the invocation is retried (EventBridge → Lambda asynchronous retries).
 */
export function makeComputeEventsHandler(deps: ComputeEventsDeps): (input: ComputeEventsInput) => Promise<EventOutcome> {
  return async (input) => {
    const envelope = (input && typeof input === 'object' ? input : {}) as Record<string, unknown>;
    const detailType = envelope['detail-type'];
    let mapped: MappedEvent | undefined;
    if (detailType === EC2_STATE_CHANGE || detailType === ECS_TASK_STATE_CHANGE) {
      const result = await mapAwsEvent(deps, envelope, detailType);
      if ('dropped' in result) return result.dropped;
      if (!result.mapped) {
        deps.log.info('compute event ignored', { detailType, ...resourceOf(envelope) });
        return { applied: false, note: `${detailType} ignored` };
      }
      mapped = result.mapped;
    } else if (typeof envelope.source === 'string' && envelope.source.startsWith('aws.')) {
      deps.log.warn('compute event dropped: unknown detail type', { source: envelope.source, detailType });
      return { applied: false, note: `unknown detail type: ${String(detailType)}` };
    } else {
      const raw = 'detail' in envelope ? envelope.detail : envelope;
      const parsed = computeEventDetail.safeParse(raw);
      const withAddress = parsed.success ? undefined : toolReadyWithAddress.safeParse(raw);
      if (parsed.success) mapped = parsed.data;
      else if (withAddress?.success) mapped = withAddress.data;
      else return drop(deps, 'not a normalized compute event', parsed.error.issues, ['detail']);
    }
    const { event, tags } = mapped;
    const outcome = await handleComputeEvent(deps, event, tags);
    deps.log.info('compute event', { kind: event.kind, instanceId: event.instanceId, ...outcome });
    return outcome;
  };
}

async function mapAwsEvent(
  deps: ComputeEventsDeps,
  envelope: Record<string, unknown>,
  detailType: typeof EC2_STATE_CHANGE | typeof ECS_TASK_STATE_CHANGE,
): Promise<{ mapped: MappedEvent | undefined } | { dropped: EventOutcome }> {
  const sources = deps.computeEventSources;
  if (detailType === EC2_STATE_CHANGE) {
    const parsed = ec2StateChangeEvent.safeParse(envelope);
    if (!parsed.success) return { dropped: drop(deps, `not an ${EC2_STATE_CHANGE}`, parsed.error.issues) };
    if (!sources?.ec2) return { dropped: notConfigured(deps, detailType, 'COMPUTE_KIND=ec2') };
    return { mapped: await mapEc2StateChange(parsed.data, sources.ec2.lookup) };
  }
  const parsed = ecsTaskStateChangeEvent.safeParse(envelope);
  if (!parsed.success) return { dropped: drop(deps, `not an ${ECS_TASK_STATE_CHANGE}`, parsed.error.issues) };
  if (!sources?.ecs) return { dropped: notConfigured(deps, detailType, 'COMPUTE_KIND=fargate') };
  return { mapped: await mapEcsTaskStateChange(parsed.data, sources.ecs) };
}

/** Log and drop a malformed event; `prefix` is where the validated value sits in the event. */
function drop(deps: WorkspaceDeps, what: string, zodIssues: readonly z.core.$ZodIssue[], prefix: readonly string[] = []): EventOutcome {
  const issues = zodIssues.map((issue) => `${[...prefix, ...issue.path.map(String)].join('.') || 'event'} ${issue.message}`);
  deps.log.error(`compute event dropped: ${what}`, { issues });
  return { applied: false, note: `invalid event: ${issues.join('; ')}` };
}

function notConfigured(deps: WorkspaceDeps, detailType: string, needs: string): EventOutcome {
  deps.log.error('compute event dropped: this deployment does not map these events', { detailType, needs });
  return { applied: false, note: `${detailType} needs ${needs}` };
}

function resourceOf(envelope: Record<string, unknown>): Record<string, unknown> {
  const detail = (envelope.detail ?? {}) as Record<string, unknown>;
  return { instanceId: detail['instance-id'] ?? detail.taskArn, state: detail.state ?? detail.lastStatus };
}
