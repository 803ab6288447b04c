/**
 * EventBridge state-change events → core `ComputeEvent` (+ the resource's tags when known).
 *
 * EC2 (`EC2 Instance State-change Notification`, detail `{ "instance-id", state }`):
 *   running → `running` with the address (one DescribeInstances: the event carries no address or tags);
 *   stopped → `stopped`; terminated → `terminated`; pending, stopping, shutting-down → ignored.
 *   Instances without this deployment's `carrel:deployment` tag are ignored (the lookup filters on it).
 *   EC2 workspaces then need the provisioner, which reports `tool-ready` itself.
 *
 * ECS (`ECS Task State Change`, detail = the task as DescribeTasks shows it, timestamps as ISO strings):
 *   Fargate workspaces need no provisioner: the task's own containers say when the tool answers.
 *   - RUNNING, tool answering → `tool-ready` with the address. ECS puts no health in task state-change
 *     events and sends none when health changes (aws/containers-roadmap#1019, #1515), so the reliable
 *     signal is a container change: the task definition's non-essential `ready` container depends on the
 *     `gate` container being HEALTHY (the gate's health check answers 200 only when the tool does) and
 *     exits 0 at once, and that exit is a container state change, which ECS does send. A `healthStatus`
 *     of HEALTHY on the `gate` container or the task, should an event carry one, counts too.
 *   - RUNNING, not yet answering → `running` with the address (publishes the hostname).
 *   - STOPPED after carrel's StopTask (`stoppedReason` "Stopped by carrel") → `stopped`;
 *     after carrel's terminate ("Terminated by carrel") → `terminated`.
 *   - STOPPED otherwise (an essential container exited, the image could not be pulled, the home could not
 *     be mounted, someone stopped it elsewhere) → `failed` with a reason a researcher can read.
 *   - every other status (PROVISIONING, PENDING, ACTIVATING, DEACTIVATING, STOPPING, DEPROVISIONING), and
 *     RUNNING with desiredStatus STOPPED (on its way down) → ignored.
 *   Tasks not started by this deployment (`startedBy` ≠ FargateCompute's `startedByFor(deploymentId)`) are ignored.
 *
 * The schemas accept unknown fields: AWS adds fields to these events over time.
 */
import { DescribeInstancesCommand, DescribeNetworkInterfacesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import * as z from 'zod';
import { TransientError } from '../../core/errors.js';
import type { ComputeEvent } from '../../core/ports.js';
import { isTransientAwsError } from './clients/errors.js';
import { startedByFor, STOP_REASON, TERMINATE_REASON } from './ecs-compute.js';

export const EC2_STATE_CHANGE = 'EC2 Instance State-change Notification';
export const ECS_TASK_STATE_CHANGE = 'ECS Task State Change';

/** Container names of the Fargate task definition (docs/contracts.md). */
export const ECS_TOOL_CONTAINER = 'tool';
export const ECS_GATE_CONTAINER = 'gate';
/** Non-essential; depends on `gate` HEALTHY and exits 0: its exit is the tool-ready signal. */
export const ECS_READY_CONTAINER = 'ready';
/** Non-essential; fetches the workspace's settings first (the gate and tool wait for its exit 0). */
export const ECS_BOOTSTRAP_CONTAINER = 'bootstrap';
/** The StopTask reasons FargateCompute gives (a stop keeps the home; a termination follows retention or a failure). */
export const ECS_STOP_REASON = STOP_REASON;
export const ECS_TERMINATE_REASON = TERMINATE_REASON;

/** `startedBy` of this deployment's tasks: the value FargateCompute runs them with. */
export const ecsStartedBy = startedByFor;

/** A compute event for core, with the resource's tags when the source knows them. */
export interface MappedEvent {
  readonly event: ComputeEvent;
  readonly tags?: Readonly<Record<string, string>>;
}

// ------------------------------------------------------------------------------------------------ EC2

export const ec2StateChangeEvent = z.looseObject({
  'detail-type': z.literal(EC2_STATE_CHANGE),
  detail: z.looseObject({
    'instance-id': z.string({ error: 'is required' }).regex(/^i-[0-9a-f]{8,17}$/, { error: 'must be an EC2 instance id' }),
    state: z.string({ error: 'is required' }).min(1, { error: 'must not be empty' }),
  }),
});
export type Ec2StateChangeEvent = z.output<typeof ec2StateChangeEvent>;

/** What `running` needs to know about an instance. */
export interface InstanceFacts {
  /** `<ip>:<gate port>`; undefined when the instance has no address of the configured kind. */
  readonly address?: string;
  /** Why there is no address (shown to the researcher). */
  readonly addressMissing?: string;
  readonly tags: Readonly<Record<string, string>>;
}

/** Facts about one of this deployment's instances; undefined when the instance is not this deployment's. */
export type InstanceLookup = (instanceId: string) => Promise<InstanceFacts | undefined>;

export async function mapEc2StateChange(event: Ec2StateChangeEvent, lookup: InstanceLookup): Promise<MappedEvent | undefined> {
  const instanceId = event.detail['instance-id'];
  switch (event.detail.state) {
    case 'running': {
      const facts = await lookup(instanceId);
      if (!facts) return undefined;
      if (!facts.address) {
        return { event: { kind: 'failed', instanceId, reason: facts.addressMissing ?? 'The workspace instance has no network address' }, tags: facts.tags };
      }
      return { event: { kind: 'running', instanceId, address: facts.address }, tags: facts.tags };
    }
    case 'stopped':
      return { event: { kind: 'stopped', instanceId } };
    case 'terminated':
      return { event: { kind: 'terminated', instanceId } };
    default:
      // pending, stopping, shutting-down: the next state says what happened.
      return undefined;
  }
}

export interface Ec2LookupOptions {
  /** Only instances tagged `carrel:deployment=<deploymentId>` are this deployment's. */
  readonly deploymentId: string;
  /** Which IP the hostname points at (WORKSPACE_ADDRESS). */
  readonly address: 'private' | 'public';
  /** The gate's port on the instance (GATE_PORT). */
  readonly gatePort: number;
}

const EC2_TRANSIENT = new Set(['InternalError', 'Unavailable', 'RequestLimitExceeded', 'InvalidInstanceID.NotFound']);

/**
 * `InstanceLookup` over DescribeInstances (one call, filtered by this deployment's tag, so another
 * deployment's or a foreign instance answers empty). An instance id EC2 does not know yet
 * (InvalidInstanceID.NotFound: EC2 is eventually consistent right after a launch), throttling, 5xx and
 * timeouts are TransientError: the invocation fails and EventBridge/Lambda retry it.
 */
export function ec2InstanceLookup(ec2: EC2Client | (() => EC2Client), options: Ec2LookupOptions): InstanceLookup {
  const client = typeof ec2 === 'function' ? ec2 : () => ec2;
  return async (instanceId) => {
    let reservations;
    try {
      const out = await client().send(
        new DescribeInstancesCommand({ InstanceIds: [instanceId], Filters: [{ Name: 'tag:carrel:deployment', Values: [options.deploymentId] }] }),
      );
      reservations = out.Reservations ?? [];
    } catch (error) {
      throw ec2Error(error, `Looking up instance ${instanceId}`);
    }
    const instance = reservations.flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === instanceId);
    if (!instance) return undefined;
    const tags = Object.fromEntries((instance.Tags ?? []).filter((t) => t.Key && t.Value !== undefined).map((t) => [t.Key as string, t.Value as string]));
    const ip = options.address === 'public' ? instance.PublicIpAddress : instance.PrivateIpAddress;
    if (!ip) return { tags, addressMissing: `The workspace instance has no ${options.address} IP address (WORKSPACE_ADDRESS=${options.address})` };
    return { address: `${ip}:${options.gatePort}`, tags };
  };
}

/** The public IP of a network interface (Fargate tasks with WORKSPACE_ADDRESS=public), via DescribeNetworkInterfaces. */
export function ec2PublicIpLookup(ec2: EC2Client | (() => EC2Client)): (networkInterfaceId: string) => Promise<string | undefined> {
  const client = typeof ec2 === 'function' ? ec2 : () => ec2;
  return async (networkInterfaceId) => {
    try {
      const out = await client().send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [networkInterfaceId] }));
      return out.NetworkInterfaces?.[0]?.Association?.PublicIp;
    } catch (error) {
      throw ec2Error(error, `Looking up network interface ${networkInterfaceId}`);
    }
  };
}

function ec2Error(error: unknown, what: string): unknown {
  const name = error && typeof error === 'object' ? (error as { name?: string }).name : undefined;
  if ((name && EC2_TRANSIENT.has(name)) || isTransientAwsError(error)) {
    return new TransientError(`${what} failed for now: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return error;
}

// ------------------------------------------------------------------------------------------------ ECS

const ecsContainer = z.looseObject({
  name: z.string({ error: 'is required' }),
  lastStatus: z.string().optional(),
  exitCode: z.number().optional(),
  reason: z.string().optional(),
  healthStatus: z.string().optional(),
});

const ecsAttachment = z.looseObject({
  type: z.string().optional(),
  details: z.array(z.looseObject({ name: z.string(), value: z.string().optional() })).optional(),
});

export const ecsTaskStateChangeEvent = z.looseObject({
  'detail-type': z.literal(ECS_TASK_STATE_CHANGE),
  detail: z.looseObject({
    taskArn: z.string({ error: 'is required' }).regex(/^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task\/\S+$/, { error: 'must be an ECS task ARN' }),
    lastStatus: z.string({ error: 'is required' }),
    desiredStatus: z.string().optional(),
    startedBy: z.string().optional(),
    healthStatus: z.string().optional(),
    stoppedReason: z.string().optional(),
    stopCode: z.string().optional(),
    containers: z.array(ecsContainer).default([]),
    attachments: z.array(ecsAttachment).default([]),
    tags: z.array(z.looseObject({ key: z.string(), value: z.string() })).optional(),
  }),
});
export type EcsTaskStateChangeEvent = z.output<typeof ecsTaskStateChangeEvent>;
type EcsContainer = z.output<typeof ecsContainer>;

export interface EcsMappingOptions {
  /** Only tasks started by `ecsStartedBy(deploymentId)` are this deployment's. */
  readonly deploymentId: string;
  /** The gate's port in the task (GATE_PORT). */
  readonly gatePort: number;
  /** Which IP the hostname points at (WORKSPACE_ADDRESS); default private. */
  readonly address?: 'private' | 'public';
  /** Public IP of the task's network interface; needed when `address` is public (the event has none). */
  readonly publicIp?: (networkInterfaceId: string) => Promise<string | undefined>;
}

export async function mapEcsTaskStateChange(event: EcsTaskStateChangeEvent, options: EcsMappingOptions): Promise<MappedEvent | undefined> {
  const task = event.detail;
  if (task.startedBy !== startedByFor(options.deploymentId)) return undefined;
  const instanceId = task.taskArn;
  const tags = task.tags ? Object.fromEntries(task.tags.map((t) => [t.key, t.value])) : undefined;
  const withTags = (e: ComputeEvent): MappedEvent => (tags ? { event: e, tags } : { event: e });

  if (task.lastStatus === 'STOPPED') {
    const reason = task.stoppedReason ?? '';
    if (reason.startsWith(ECS_STOP_REASON)) return withTags({ kind: 'stopped', instanceId });
    if (reason.startsWith(ECS_TERMINATE_REASON)) return withTags({ kind: 'terminated', instanceId });
    return withTags({ kind: 'failed', instanceId, reason: stoppedTaskReason(task) });
  }
  if (task.lastStatus !== 'RUNNING' || (task.desiredStatus && task.desiredStatus !== 'RUNNING')) return undefined;

  const address = await taskAddress(task, options);
  if (!address.ok) return withTags({ kind: 'failed', instanceId, reason: address.reason });
  return withTags(toolAnswers(task) ? { kind: 'tool-ready', instanceId, address: address.value } : { kind: 'running', instanceId, address: address.value });
}

/** The gate reports the tool healthy: the `ready` container exited 0, or a HEALTHY status is present. */
function toolAnswers(task: EcsTaskStateChangeEvent['detail']): boolean {
  const byName = (name: string) => task.containers.find((c) => c.name === name);
  const ready = byName(ECS_READY_CONTAINER);
  if (ready && ready.lastStatus === 'STOPPED' && ready.exitCode === 0) return true;
  if (byName(ECS_GATE_CONTAINER)?.healthStatus === 'HEALTHY') return true;
  return task.healthStatus === 'HEALTHY';
}

async function taskAddress(task: EcsTaskStateChangeEvent['detail'], options: EcsMappingOptions): Promise<{ ok: true; value: string } | { ok: false; reason: string }> {
  const eni = task.attachments.find((a) => a.type === 'eni' || a.type === 'ElasticNetworkInterface');
  const detail = (name: string) => eni?.details?.find((d) => d.name === name)?.value;
  if ((options.address ?? 'private') === 'public') {
    const eniId = detail('networkInterfaceId');
    const ip = eniId && options.publicIp ? await options.publicIp(eniId) : undefined;
    if (!ip) return { ok: false, reason: 'The workspace task has no public IP address (WORKSPACE_ADDRESS=public)' };
    return { ok: true, value: `${ip}:${options.gatePort}` };
  }
  const ip = detail('privateIPv4Address');
  if (!ip) return { ok: false, reason: 'The workspace task has no private IP address' };
  return { ok: true, value: `${ip}:${options.gatePort}` };
}

const MAX_REASON = 400;

/** Why a task stopped, in words a researcher can act on (or pass to their platform team). */
export function stoppedTaskReason(task: Pick<EcsTaskStateChangeEvent['detail'], 'stoppedReason' | 'stopCode' | 'containers'>): string {
  const stopped = task.stoppedReason?.trim() ?? '';
  // The signal containers exit by design (`ready` always, `bootstrap` with 0 once it has done its work).
  const containers = task.containers.filter((c) => c.name !== ECS_READY_CONTAINER && !(c.name === ECS_BOOTSTRAP_CONTAINER && c.exitCode === 0));
  const reasons = [stopped, ...containers.map((c) => c.reason ?? '')];
  const pull = reasons.find((r) => /CannotPullContainerError/.test(r));
  if (pull) return clip(`The workspace image could not be downloaded (${pull})`);
  const init = reasons.find((r) => /ResourceInitializationError/.test(r));
  if (init) {
    return clip(/\befs\b|EFS|mount/i.test(init) ? `The workspace home could not be mounted (${init})` : `The workspace could not be prepared (${init})`);
  }
  // Without its settings neither the gate nor the tool starts: say so rather than name a container.
  const bootstrap = task.containers.find((c) => c.name === ECS_BOOTSTRAP_CONTAINER);
  if (bootstrap?.exitCode !== undefined && bootstrap.exitCode !== 0) {
    return clip(`The workspace could not get its settings from the desk (its bootstrap step exited with code ${bootstrap.exitCode}; the task's bootstrap log says why)`);
  }
  // The container that brought the task down: a tool or gate that exited badly, or gave a reason.
  const ordered = [...containers].sort((a, b) => order(a) - order(b));
  const culprit =
    ordered.find((c) => (c.exitCode !== undefined && c.exitCode !== 0) || (c.reason && c.reason.trim() !== '')) ??
    (task.stopCode === 'EssentialContainerExited' ? ordered.find((c) => c.lastStatus === 'STOPPED' && c.exitCode !== undefined) : undefined);
  if (culprit) return clip(`The workspace container "${culprit.name}" ${describeContainer(culprit)}`);
  if (task.stopCode === 'UserInitiated' || task.stopCode === 'ServiceSchedulerInitiated') {
    return clip(`The workspace was stopped outside carrel${stopped ? ` (${stopped})` : ''}`);
  }
  if (task.stopCode === 'SpotInterruption' || task.stopCode === 'TerminationNotice') {
    return clip(`The workspace was stopped by AWS${stopped ? ` (${stopped})` : ''}`);
  }
  if (stopped) return clip(`The workspace stopped unexpectedly (${stopped})`);
  return `The workspace stopped unexpectedly${task.stopCode ? ` (${task.stopCode})` : ''}`;
}

function order(container: EcsContainer): number {
  return container.name === ECS_TOOL_CONTAINER ? 0 : container.name === ECS_GATE_CONTAINER ? 1 : 2;
}

function describeContainer(container: EcsContainer): string {
  const reason = container.reason?.trim();
  const code = container.exitCode;
  if (code !== undefined && code !== 0) {
    const hint = code === 137 && !reason ? ' (killed: it may have run out of memory)' : '';
    return `exited with code ${code}${hint}${reason ? ` (${reason})` : ''}`;
  }
  return reason ? `stopped (${reason})` : `exited with code ${code ?? 'unknown'}`;
}

function clip(text: string): string {
  return text.length > MAX_REASON ? `${text.slice(0, MAX_REASON - 1)}…` : text;
}
