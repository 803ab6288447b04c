/**
 * ComputePort on EC2: a workspace is one instance launched from the deployment's launch template (image,
 * instance profile, encrypted volumes, IMDSv2). Stopping keeps the instance (optionally hibernating) so a
 * resume is a StartInstances; termination comes later, by policy. Progress arrives as EventBridge
 * state-change events, so every call here returns at once.
 *
 * Launches are idempotent: attempt n of a launch (instance type × subnet, in a fixed order) sends
 * `ClientToken = <request token>.<n>`, so a retried launch sends the same tokens and EC2 answers with
 * the instance it already started rather than a second one.
 */
import { createHash } from 'node:crypto';
import {
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeInstancesCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type EC2Client,
  type Filter,
  type Instance,
  type InstanceStateName,
  type Tag,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import { CarrelError, TransientError } from '../../core/errors.js';
import { WORKSPACE_TAG_KEYS } from '../../core/lifecycle.js';
import { SPARE_SIZE_TAG, SPARE_TAG } from '../../core/pool.js';
import type { ComputePort, InstanceView, LaunchRequest, Log, SpareLaunchRequest } from '../../core/ports.js';
import type { Workspace } from '../../core/workspace.js';
import { awsErrorDetail, awsErrorName, isTransientAwsError } from './clients/errors.js';

export { awsErrorDetail, awsErrorName } from './clients/errors.js';
import { sizeOf, type WorkspaceSizes } from './workspace-sizes.js';

/** A compute call failed in a way that retrying will not fix (configuration, permissions, a bad request). */
export class ComputeError extends CarrelError {}

/**
 * No capacity for the workspace's size in any configured subnet right now. It is transient (capacity
 * comes back), and its message is written for the researcher, who sees it on the page.
 */
export class NoCapacityError extends TransientError {}

export interface Ec2ComputeOptions {
  /** Value of the `carrel:deployment` tag that marks every resource of this deployment. */
  readonly deploymentId: string;
  /** The workspace launch template (image, instance profile, encrypted volumes, IMDSv2, no network interfaces). */
  readonly launchTemplateId: string;
  /** Workspace subnets, tried in this order on capacity errors. */
  readonly subnetIds: readonly string[];
  readonly securityGroupIds: readonly string[];
  readonly sizes: WorkspaceSizes;
  /** Launch with hibernation configured and hibernate on stop (the template's volume must allow it). */
  readonly hibernate: boolean;
  readonly log: Log;
}

/** EC2 allows client tokens of up to 64 ASCII characters (ECS allows 64 too). */
export const MAX_CLIENT_TOKEN_LENGTH = 64;

/**
 * `<base>.<attempt>`, or, when that would exceed `max` characters, a SHA-256 hex prefix of the base in its
 * place: still deterministic, so a retried launch sends the same tokens.
 */
export function attemptToken(base: string, attempt: number, max = MAX_CLIENT_TOKEN_LENGTH): string {
  const suffix = `.${attempt}`;
  const token = `${base}${suffix}`;
  if (token.length <= max && /^[\x21-\x7e]+$/.test(base)) return token;
  return `${createHash('sha256').update(base).digest('hex').slice(0, max - suffix.length)}${suffix}`;
}

/** Transient failures (throttling, 5xx, timeouts) as core's TransientError; anything else as a ComputeError naming `what`. */
export function computeFailure(error: unknown, what: string): Error {
  if (error instanceof CarrelError) return error;
  if (isTransientAwsError(error)) return new TransientError(`${what} failed for now: ${awsErrorDetail(error)}`, { cause: error });
  return new ComputeError(`${what} failed: ${awsErrorDetail(error)}`, { cause: error });
}

/** This instance type cannot be had in this subnet's zone: try the next type. */
const TYPE_UNAVAILABLE = new Set(['InsufficientInstanceCapacity', 'Unsupported']);
/** Capacity errors proper (the rest of TYPE_UNAVAILABLE says "not offered here"). */
const NO_CAPACITY = new Set(['InsufficientInstanceCapacity']);
/** The subnet itself is full: skip its remaining instance types. */
const SUBNET_UNAVAILABLE = new Set(['InsufficientFreeAddressesInSubnet']);
/** StopInstances with Hibernate refused for this instance (not launched for hibernation, not ready yet). */
const HIBERNATION_REFUSED = new Set(['UnsupportedHibernationConfiguration', 'UnsupportedOperation', 'Unsupported']);
const NOT_FOUND = 'InvalidInstanceID.NotFound';
const INCORRECT_STATE = 'IncorrectInstanceState';

/** Instance states listed for reconciliation (everything that still exists). */
const LISTED_STATES = ['pending', 'running', 'stopping', 'stopped', 'shutting-down'];

/**
 * EC2 state → core state. `shutting-down` is irrevocably on its way to `terminated`, and nothing is left
 * for reconciliation to do about it, so it reads as terminated.
 */
const STATES: Readonly<Record<InstanceStateName, InstanceView['state']>> = {
  pending: 'pending',
  running: 'running',
  stopping: 'stopping',
  stopped: 'stopped',
  'shutting-down': 'terminated',
  terminated: 'terminated',
};

interface Miss {
  readonly instanceType: string;
  readonly subnetId: string;
  readonly code: string;
}

export class Ec2Compute implements ComputePort {
  constructor(
    private readonly ec2: EC2Client,
    private readonly options: Ec2ComputeOptions,
  ) {
    if (options.subnetIds.length === 0) throw new Error('Ec2Compute needs at least one workspace subnet');
  }

  /** A workspace's own instance (see runInstance). */
  async launch(request: LaunchRequest): Promise<{ readonly instanceId: string }> {
    const ws = request.workspace;
    return this.runInstance(ws.size, request.clientToken, request.tags, `carrel-${this.options.deploymentId}-${ws.analysisId}-${ws.userId}`, {
      analysisId: ws.analysisId,
      userId: ws.userId,
    });
  }

  /** A warm-pool spare: the same launch (template, IMDSv2, capacity fallback), tagged as a spare. */
  async launchSpare(request: SpareLaunchRequest): Promise<{ readonly instanceId: string }> {
    return this.runInstance(request.size, request.clientToken, request.tags, `carrel-${this.options.deploymentId}-spare-${request.size}`, { spare: true });
  }

  /**
   * Hand a spare to a workspace: CreateTags with the workspace's tags (and its Name), then DeleteTags of the
   * spare tags. The workspace tags go first, so at no moment does the instance carry neither (reconciliation
   * would end it). The instance's volume and network interface keep their launch tags (deployment, spare).
   */
  async adopt(instanceId: string, tags: Readonly<Record<string, string>>): Promise<void> {
    const name = `carrel-${this.options.deploymentId}-${tags['carrel:analysis'] ?? ''}-${tags['carrel:user'] ?? ''}`;
    // The deployment tag is there already (and the role may not write it): only the workspace's own keys.
    const set: Tag[] = [
      ...Object.entries(tags)
        .filter(([Key]) => (WORKSPACE_TAG_KEYS as readonly string[]).includes(Key))
        .map(([Key, Value]) => ({ Key, Value })),
      { Key: 'Name', Value: name },
    ];
    try {
      await this.ec2.send(new CreateTagsCommand({ Resources: [instanceId], Tags: set }));
      await this.ec2.send(new DeleteTagsCommand({ Resources: [instanceId], Tags: [{ Key: SPARE_TAG }, { Key: SPARE_SIZE_TAG }] }));
    } catch (error) {
      if (awsErrorName(error) === NOT_FOUND) throw new ComputeError(`The spare instance ${instanceId} no longer exists`, { cause: error });
      throw computeFailure(error, `Taking spare instance ${instanceId}`);
    }
  }

  /**
   * RunInstances, trying each instance type of the size in the first subnet, then in the next subnet
   * (attempt n = subnet index × types + type index). InsufficientInstanceCapacity and Unsupported (the type
   * is not offered in that zone) move on to the next type; a full subnet moves on to the next subnet.
   */
  private async runInstance(
    sizeName: string,
    baseToken: string,
    requestTags: Readonly<Record<string, string>>,
    name: string,
    logContext: Record<string, unknown>,
  ): Promise<{ readonly instanceId: string }> {
    const size = sizeOf(this.options.sizes, sizeName);
    const types = size.instanceTypes;
    const tags: Tag[] = [
      ...Object.entries(requestTags)
        .filter(([Key]) => Key !== 'Name')
        .map(([Key, Value]) => ({ Key, Value })),
      { Key: 'Name', Value: name },
    ];
    const misses: Miss[] = [];
    for (const [s, subnetId] of this.options.subnetIds.entries()) {
      for (const [t, instanceType] of types.entries()) {
        const clientToken = attemptToken(baseToken, s * types.length + t);
        try {
          const out = await this.ec2.send(
            new RunInstancesCommand({
              MinCount: 1,
              MaxCount: 1,
              LaunchTemplate: { LaunchTemplateId: this.options.launchTemplateId, Version: '$Latest' },
              InstanceType: instanceType as _InstanceType,
              SubnetId: subnetId,
              SecurityGroupIds: [...this.options.securityGroupIds],
              // Also required by the launch template; stated here so no template version can weaken it.
              MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 1 },
              HibernationOptions: { Configured: this.options.hibernate },
              TagSpecifications: (['instance', 'volume', 'network-interface'] as const).map((ResourceType) => ({ ResourceType, Tags: tags })),
              ClientToken: clientToken,
            }),
          );
          const instanceId = out.Instances?.[0]?.InstanceId;
          if (!instanceId) throw new ComputeError('EC2 RunInstances answered without an instance');
          this.options.log.info('workspace instance launched', { instanceId, instanceType, subnetId, clientToken, ...logContext });
          return { instanceId };
        } catch (error) {
          const code = awsErrorName(error);
          if (TYPE_UNAVAILABLE.has(code) || SUBNET_UNAVAILABLE.has(code)) {
            misses.push({ instanceType, subnetId, code });
            this.options.log.warn('no capacity for a workspace instance; trying the next option', { instanceType, subnetId, code, clientToken });
            if (SUBNET_UNAVAILABLE.has(code)) break;
            continue;
          }
          if (code === 'IdempotentParameterMismatch') {
            // This token already launched something with other parameters (the configuration changed
            // between a launch and its retry): that instance is the launch's result.
            const existing = await this.findByClientToken(clientToken);
            if (existing) return { instanceId: existing };
          }
          if (code === 'UnsupportedHibernationConfiguration') {
            throw new ComputeError(`Hibernation is configured, but a ${instanceType} workspace cannot hibernate (${awsErrorDetail(error)})`, {
              cause: error,
            });
          }
          throw computeFailure(error, `Launching a ${instanceType} workspace instance in ${subnetId}`);
        }
      }
    }
    throw this.exhausted(sizeName, types, misses);
  }

  /** StartInstances of the stopped instance; one already running or pending is left alone. */
  async start(instanceId: string, workspace: Workspace): Promise<void> {
    // The instance's generation tag follows the record's (as on a fresh launch); this is best effort.
    const retag = this.retag(instanceId, workspace);
    try {
      await this.ec2.send(new StartInstancesCommand({ InstanceIds: [instanceId] }));
    } catch (error) {
      const code = awsErrorName(error);
      if (code === INCORRECT_STATE) {
        const state = await this.stateOf(instanceId);
        if (state === 'running' || state === 'pending') return;
        if (state === 'stopping') {
          throw new TransientError('The workspace is still stopping; try again in a moment', { cause: error });
        }
        throw new ComputeError(`The workspace's instance ${instanceId} is ${state ?? 'gone'} and cannot be resumed`, { cause: error });
      }
      if (code === NOT_FOUND) throw new ComputeError(`The workspace's instance ${instanceId} no longer exists`, { cause: error });
      if (NO_CAPACITY.has(code)) {
        throw new NoCapacityError('There is no capacity to resume this workspace right now. Please try again in a few minutes.', { cause: error });
      }
      throw computeFailure(error, `Resuming workspace instance ${instanceId}`);
    } finally {
      await retag;
    }
  }

  /** StopInstances (hibernating when configured); an instance already stopped, stopping or gone is left alone. */
  async stop(instanceId: string): Promise<void> {
    await this.stopInstance(instanceId, this.options.hibernate);
  }

  /** TerminateInstances; an instance EC2 no longer knows is already gone. */
  async terminate(instanceId: string): Promise<void> {
    try {
      await this.ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    } catch (error) {
      if (awsErrorName(error) === NOT_FOUND) {
        this.options.log.info('workspace instance already gone', { instanceId });
        return;
      }
      throw computeFailure(error, `Terminating workspace instance ${instanceId}`);
    }
  }

  /** Every instance of this deployment that still exists (DescribeInstances by tag, all pages). */
  async listTagged(): Promise<readonly InstanceView[]> {
    const views: InstanceView[] = [];
    for await (const instance of this.describe([
      { Name: 'tag:carrel:deployment', Values: [this.options.deploymentId] },
      { Name: 'instance-state-name', Values: LISTED_STATES },
    ])) {
      const view = toView(instance);
      if (view) views.push(view);
    }
    return views;
  }

  private async stopInstance(instanceId: string, hibernate: boolean): Promise<void> {
    try {
      await this.ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId], ...(hibernate ? { Hibernate: true } : {}) }));
    } catch (error) {
      const code = awsErrorName(error);
      if (code === INCORRECT_STATE) {
        const state = await this.stateOf(instanceId);
        if (state === 'pending') {
          throw new TransientError(`Workspace instance ${instanceId} is still starting and cannot be stopped yet`, { cause: error });
        }
        this.options.log.info('workspace instance needs no stop', { instanceId, state: state ?? 'gone' });
        return;
      }
      if (hibernate && HIBERNATION_REFUSED.has(code)) {
        this.options.log.warn('hibernation refused; stopping without it', { instanceId, error: awsErrorDetail(error) });
        return this.stopInstance(instanceId, false);
      }
      if (code === NOT_FOUND) {
        // EC2's reads lag its writes: a just-launched instance may not be known yet.
        throw new TransientError(`EC2 does not know workspace instance ${instanceId} (yet)`, { cause: error });
      }
      throw computeFailure(error, `Stopping workspace instance ${instanceId}`);
    }
  }

  /** The instance's EC2 state, or undefined when EC2 does not know it. */
  private async stateOf(instanceId: string): Promise<InstanceStateName | undefined> {
    try {
      const out = await this.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
      return out.Reservations?.flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === instanceId)?.State?.Name;
    } catch (error) {
      if (awsErrorName(error) === NOT_FOUND) return undefined;
      throw computeFailure(error, `Reading workspace instance ${instanceId}`);
    }
  }

  private async findByClientToken(clientToken: string): Promise<string | undefined> {
    for await (const instance of this.describe([
      { Name: 'client-token', Values: [clientToken] },
      { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
    ])) {
      if (instance.InstanceId) return instance.InstanceId;
    }
    return undefined;
  }

  private async *describe(Filters: Filter[]): AsyncGenerator<Instance> {
    let NextToken: string | undefined;
    do {
      let out;
      try {
        out = await this.ec2.send(new DescribeInstancesCommand({ Filters, MaxResults: 1000, NextToken }));
      } catch (error) {
        throw computeFailure(error, 'Listing workspace instances');
      }
      for (const reservation of out.Reservations ?? []) yield* reservation.Instances ?? [];
      NextToken = out.NextToken;
    } while (NextToken);
  }

  private async retag(instanceId: string, ws: Workspace): Promise<void> {
    try {
      await this.ec2.send(new CreateTagsCommand({ Resources: [instanceId], Tags: [{ Key: 'carrel:generation', Value: String(ws.generation) }] }));
    } catch (error) {
      this.options.log.warn('could not update the generation tag of a resumed instance', { instanceId, error: awsErrorDetail(error) });
    }
  }

  private exhausted(sizeName: string, types: readonly string[], misses: readonly Miss[]): Error {
    const tried = `${types.join(', ')} in ${this.options.subnetIds.length} subnet${this.options.subnetIds.length === 1 ? '' : 's'}`;
    this.options.log.warn('no capacity for a workspace in any subnet', { size: sizeName, misses });
    if (!misses.some((miss) => NO_CAPACITY.has(miss.code) || SUBNET_UNAVAILABLE.has(miss.code))) {
      return new ComputeError(`None of the instance types of size "${sizeName}" (${types.join(', ')}) is offered in the workspace subnets' zones`);
    }
    return new NoCapacityError(
      `There is no capacity for ${sizeName} workspaces right now (tried ${tried}). Please try again in a few minutes.`,
    );
  }
}

function toView(instance: Instance): InstanceView | undefined {
  const state = instance.State?.Name ? STATES[instance.State.Name] : undefined;
  if (!instance.InstanceId || !state) return undefined;
  const tags: Record<string, string> = {};
  for (const { Key, Value } of instance.Tags ?? []) if (Key !== undefined) tags[Key] = Value ?? '';
  return { instanceId: instance.InstanceId, state, tags };
}
