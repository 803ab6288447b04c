/**
 * ComputePort on ECS Fargate: a workspace is one task (the tool container and the gate sidecar) with the
 * researcher's home mounted from EFS through the home's access point, with IAM authorization and
 * encryption in transit. Progress arrives as EventBridge `ECS Task State Change` events.
 *
 * The home and the task definition. RunTask overrides can change CPU, memory, environment and roles, but
 * not volumes (`volumeConfigurations` is for EBS only), and an EFS volume's access point is part of the
 * task definition. So each home gets its own task definition family, `carrel-<deployment>-ws-<hash>`,
 * whose revisions are copies of the deployment's base task definition (TASK_DEFINITION_ARN) with the
 * volume `home` pointing at the home's access point. It is registered once per home and per base
 * revision, remembered in memory, and found again after a cold start with one DescribeTaskDefinition.
 * The family is named after a hash of (analysis, researcher) rather than of the access point id, so a
 * resume finds the home from the workspace record alone: ECS forgets stopped tasks after about an
 * hour, long before a researcher usually comes back. (The alternatives are worse: one task definition
 * mounting the file system root would let every workspace read every home.)
 *
 * Fargate keeps nothing of a stopped task, so `stop` and `terminate` both StopTask (with different
 * reasons, which the event mapping reads), and `start` runs a replacement task whose ARN the record adopts.
 *
 * The task role. Every container of a task can read its role's credentials, so each home's task definition
 * runs with that home's own role (iam-home-roles.ts), which may mount that home's access point only. The
 * role is created with the home's first task definition revision; a revision whose task role is not the
 * home's (registered before home roles existed) is replaced. IAM is eventually consistent: for a minute or
 * two after CreateRole, ECS may refuse to assume the new role, so RunTask retries that refusal with backoff
 * (bounded, ROLE_RETRY_DELAYS_MS) and then reports it as transient, which the page offers to retry.
 */
import { createHash } from 'node:crypto';
import {
  ClientException,
  ConflictException,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  InvalidParameterException,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
  type RunTaskCommandInput,
  type ECSClient,
  type Failure,
  type RegisterTaskDefinitionCommandInput,
  type Tag,
  type Task,
  type TaskDefinition,
  type Volume,
} from '@aws-sdk/client-ecs';
import { TransientError } from '../../core/errors.js';
import { workspaceTags } from '../../core/lifecycle.js';
import type { ComputePort, InstanceView, LaunchRequest, Log } from '../../core/ports.js';
import type { Workspace, WorkspaceKey } from '../../core/workspace.js';
import { attemptToken, ComputeError, computeFailure, NoCapacityError } from './ec2-compute.js';
import type { HomeRole, HomeTaskRoles } from './iam-home-roles.js';
import { sizeOf, type WorkspaceSizes } from './workspace-sizes.js';

export interface FargateComputeOptions {
  /** Value of the `carrel:deployment` tag. */
  readonly deploymentId: string;
  readonly clusterArn: string;
  /** The base task definition: containers `tool` and `gate`, volume `home`, awsvpc, FARGATE. */
  readonly taskDefinitionArn: string;
  /** Workspace subnets, tried in this order when a zone has no capacity. */
  readonly subnetIds: readonly string[];
  readonly securityGroupIds: readonly string[];
  /** Give tasks a public IP (WORKSPACE_ADDRESS=public). */
  readonly assignPublicIp: boolean;
  readonly sizes: WorkspaceSizes;
  /** The homes file system (the access points belong to it). */
  readonly fileSystemId: string;
  /** Each home's own task role (created with the home's task definition). */
  readonly homeRoles: Pick<HomeTaskRoles, 'ensure' | 'roleArn'>;
  readonly log: Log;
  /** Waits between RunTask attempts while a new role propagates (tests pass a fake). */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Waits before retrying a RunTask that ECS refused because a just-created role was not assumable yet (about 11 s in all). */
export const ROLE_RETRY_DELAYS_MS: readonly number[] = [1000, 2000, 4000, 4000];
/** A role younger than this may still be propagating through IAM. */
const ROLE_PROPAGATION_MS = 2 * 60_000;
/** ECS's words when it cannot (yet) assume or pass a task role. */
const ROLE_NOT_READY = /unable to assume the role|role .*(does not exist|is not valid|is invalid)/i;

/** The volume of the base task definition that holds the researcher's home. */
export const HOME_VOLUME = 'home';
/** Task and task definition tag naming the home's access point. */
export { HOME_TAG } from '../../core/lifecycle.js';
import { HOME_TAG } from '../../core/lifecycle.js';
/** Task definition tag naming the base task definition revision it was copied from. */
export const BASE_TAG = 'carrel:base-task-definition';
/** StopTask reasons; the ECS event mapping tells a stop from a termination by them. */
export const STOP_REASON = 'Stopped by carrel';
export const TERMINATE_REASON = 'Terminated by carrel';

/** Base task definition fields a per-home revision copies (everything RegisterTaskDefinition accepts but family, volumes and tags). */
const COPIED = [
  'taskRoleArn',
  'executionRoleArn',
  'networkMode',
  'containerDefinitions',
  'placementConstraints',
  'requiresCompatibilities',
  'cpu',
  'memory',
  'pidMode',
  'ipcMode',
  'proxyConfiguration',
  'inferenceAccelerators',
  'ephemeralStorage',
  'runtimePlatform',
  'enableFaultInjection',
] as const satisfies ReadonlyArray<keyof RegisterTaskDefinitionCommandInput & keyof TaskDefinition>;

interface HomeTaskDefinition {
  /** ARN of the revision (family:revision) to run. */
  readonly arn: string;
  readonly accessPointId: string;
  /** The home role, when this container created or checked it (absent for a revision found as registered). */
  readonly role?: HomeRole;
}

const digest = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * `startedBy` of this deployment's tasks: `carrel-<deploymentId>` with any character ECS refuses (it takes
 * letters, digits, `-`, `_`, `/`) replaced by `-`; a digest of the id when that exceeds 36 characters
 * (ListTasks has refused longer `startedBy` filters). The ECS event mapping must use the same value.
 */
export function startedByFor(deploymentId: string): string {
  const plain = `carrel-${deploymentId}`.replace(/[^A-Za-z0-9_/-]/g, '-');
  return plain.length <= 36 ? plain : `carrel-${digest(deploymentId).slice(0, 29)}`;
}

export class FargateCompute implements ComputePort {
  /** The `startedBy` of every task this deployment runs (ListTasks filters on it). */
  readonly startedBy: string;
  private base?: Promise<TaskDefinition & { taskDefinitionArn: string }>;
  /** Per-home task definitions by family: registered once, however many launches. */
  private readonly definitions = new Map<string, Promise<HomeTaskDefinition>>();

  constructor(
    private readonly ecs: ECSClient,
    private readonly options: FargateComputeOptions,
  ) {
    if (options.subnetIds.length === 0) throw new Error('FargateCompute needs at least one workspace subnet');
    this.startedBy = startedByFor(options.deploymentId);
  }

  /** The task definition family of a workspace's home. */
  familyOf(key: WorkspaceKey): string {
    const deployment = this.options.deploymentId.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64);
    return `carrel-${deployment}-ws-${digest(`${key.analysisId}/${key.userId}`).slice(0, 16)}`;
  }

  async launch(request: LaunchRequest): Promise<{ readonly instanceId: string }> {
    const ws = request.workspace;
    const size = this.sizeFor(ws.size);
    const definition = await this.definitionFor(ws, request.home.homeId);
    return { instanceId: await this.run(ws, size, definition, request.clientToken, request.tags) };
  }

  /**
   * Fargate cannot restart a stopped task: run a replacement for this generation with the same home
   * (the home's task definition, found from the workspace) and return its ARN for the record to adopt.
   * A task that is still meant to run is left alone.
   */
  async start(instanceId: string, workspace: Workspace): Promise<{ readonly instanceId: string } | void> {
    const previous = await this.describeTask(instanceId);
    if (previous?.desiredStatus === 'RUNNING') return;
    const size = this.sizeFor(workspace.size);
    const definition = await this.definitionFor(workspace, tagValue(previous?.tags, HOME_TAG));
    const token = `${workspace.workspaceId}-resume-${workspace.generation}`;
    return { instanceId: await this.run(workspace, size, definition, token, workspaceTags(workspace, this.options.deploymentId)) };
  }

  async stop(instanceId: string): Promise<void> {
    await this.stopTask(instanceId, STOP_REASON);
  }

  async terminate(instanceId: string): Promise<void> {
    await this.stopTask(instanceId, TERMINATE_REASON);
  }

  /**
   * The deployment's tasks (ListTasks by `startedBy`, running and recently stopped, all pages) with their
   * tags. A STOPPED task reads as terminated: Fargate keeps nothing of it and it cannot be started again.
   */
  async listTagged(): Promise<readonly InstanceView[]> {
    const arns = new Set<string>();
    for (const desiredStatus of ['RUNNING', 'STOPPED'] as const) {
      let nextToken: string | undefined;
      do {
        const page = await this.call('Listing workspace tasks', () =>
          this.ecs.send(new ListTasksCommand({ cluster: this.options.clusterArn, startedBy: this.startedBy, desiredStatus, maxResults: 100, nextToken })),
        );
        for (const arn of page.taskArns ?? []) arns.add(arn);
        nextToken = page.nextToken;
      } while (nextToken);
    }
    const views: InstanceView[] = [];
    const all = [...arns];
    for (let i = 0; i < all.length; i += 100) {
      const out = await this.call('Describing workspace tasks', () =>
        this.ecs.send(new DescribeTasksCommand({ cluster: this.options.clusterArn, tasks: all.slice(i, i + 100), include: ['TAGS'] })),
      );
      for (const task of out.tasks ?? []) {
        const tags = tagRecord(task.tags);
        if (task.taskArn && tags['carrel:deployment'] === this.options.deploymentId) views.push({ instanceId: task.taskArn, state: stateOf(task), tags });
      }
    }
    return views;
  }

  private sizeFor(name: string): { readonly cpu: number; readonly memoryMiB: number } {
    const size = sizeOf(this.options.sizes, name);
    if (size.cpu === undefined || size.memoryMiB === undefined) {
      throw new ComputeError(`Workspace size "${name}" has no Fargate cpu and memoryMiB configured`);
    }
    return { cpu: size.cpu, memoryMiB: size.memoryMiB };
  }

  /**
   * RunTask in one subnet at a time: a zone without Fargate capacity moves on to the next subnet, with
   * `clientToken = <token>.<attempt>` so a retried launch sends the same tokens and gets the same task.
   */
  private async run(
    ws: Workspace,
    size: { readonly cpu: number; readonly memoryMiB: number },
    definition: HomeTaskDefinition,
    token: string,
    tags: Readonly<Record<string, string>>,
  ): Promise<string> {
    const taskTags: Tag[] = Object.entries({ ...tags, [HOME_TAG]: definition.accessPointId }).map(([key, value]) => ({ key, value }));
    const misses: string[] = [];
    for (const [attempt, subnet] of this.options.subnetIds.entries()) {
      const clientToken = attemptToken(token, attempt);
      let out;
      try {
        out = await this.runTask(definition, {
          cluster: this.options.clusterArn,
          taskDefinition: definition.arn,
          launchType: 'FARGATE',
          count: 1,
          networkConfiguration: {
            awsvpcConfiguration: {
              subnets: [subnet],
              securityGroups: [...this.options.securityGroupIds],
              assignPublicIp: this.options.assignPublicIp ? 'ENABLED' : 'DISABLED',
            },
          },
          overrides: { cpu: String(size.cpu), memory: String(size.memoryMiB) },
          clientToken,
          startedBy: this.startedBy,
          tags: taskTags,
          enableExecuteCommand: false,
        });
      } catch (error) {
        // The token already started a task (with other parameters, e.g. a newer task definition): that task is the answer.
        if (error instanceof ConflictException && error.resourceIds?.[0]) return error.resourceIds[0];
        throw computeFailure(error, `Starting the workspace task in ${subnet}`);
      }
      const taskArn = out.tasks?.[0]?.taskArn;
      if (taskArn) {
        this.options.log.info('workspace task started', { taskArn, subnet, clientToken, analysisId: ws.analysisId, userId: ws.userId });
        return taskArn;
      }
      const failures = out.failures ?? [];
      const detail = failures.map(describeFailure).join('; ') || 'ECS started no task and gave no reason';
      switch (classify(failures)) {
        case 'zone':
          misses.push(`${subnet}: ${detail}`);
          this.options.log.warn('no Fargate capacity for a workspace task; trying the next subnet', { subnet, clientToken, detail });
          continue;
        case 'transient':
          throw new TransientError(`Starting the workspace task failed for now: ${detail}`);
        default:
          throw new ComputeError(`Starting the workspace task failed: ${detail}`);
      }
    }
    this.options.log.warn('no Fargate capacity for a workspace in any subnet', { size: ws.size, misses });
    const n = this.options.subnetIds.length;
    throw new NoCapacityError(`There is no capacity for ${ws.size} workspaces right now (tried ${n} subnet${n === 1 ? '' : 's'}). Please try again in a few minutes.`);
  }

  /**
   * RunTask; while the home role is new, ECS's refusal to assume it is IAM still propagating: wait and send
   * the same request again (same client token), a bounded number of times, then give up as transient.
   */
  private async runTask(definition: HomeTaskDefinition, input: RunTaskCommandInput) {
    const sleep = this.options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    const fresh = definition.role !== undefined && Date.now() - definition.role.createdAt.getTime() < ROLE_PROPAGATION_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.ecs.send(new RunTaskCommand(input));
      } catch (error) {
        const notReady = fresh && (error instanceof ClientException || error instanceof InvalidParameterException);
        if (!notReady || !ROLE_NOT_READY.test((error as Error).message)) throw error;
        const delay = ROLE_RETRY_DELAYS_MS[attempt];
        if (delay === undefined) {
          throw new TransientError(`The workspace's new task role is not usable yet (IAM is still propagating it); try again in a minute`, { cause: error });
        }
        this.options.log.warn('the new home task role is not assumable yet; retrying RunTask', { role: definition.role?.arn, attempt: attempt + 1, delayMs: delay });
        await sleep(delay);
      }
    }
  }

  /**
   * The home's task definition: from memory, else the family's latest revision when it mounts this
   * access point and was copied from the current base, else a newly registered revision. Without an
   * access point id (a resume), the family's latest revision says which home it mounts.
   */
  private definitionFor(key: WorkspaceKey, accessPointId: string | undefined): Promise<HomeTaskDefinition> {
    const family = this.familyOf(key);
    const earlier = this.definitions.get(family);
    const resolving = (async () => {
      const known = earlier && (await earlier.catch(() => undefined));
      if (known && (accessPointId === undefined || known.accessPointId === accessPointId)) return known;
      return this.resolveDefinition(family, key, accessPointId);
    })();
    this.definitions.set(family, resolving);
    resolving.catch(() => {
      if (this.definitions.get(family) === resolving) this.definitions.delete(family);
    });
    return resolving;
  }

  private async resolveDefinition(family: string, key: WorkspaceKey, accessPointId: string | undefined): Promise<HomeTaskDefinition> {
    const base = await this.baseDefinition();
    const latest = await this.describeFamily(family);
    const latestHome = latest ? homeAccessPoint(latest.definition, this.options.fileSystemId) : undefined;
    const home = accessPointId ?? latestHome;
    if (!home) {
      throw new ComputeError(`The home of this workspace could not be found (no task definition ${family}); starting it afresh will find it again`);
    }
    const latestArn = latest?.definition.taskDefinitionArn;
    const current =
      latestArn &&
      latestHome === home &&
      tagValue(latest.tags, BASE_TAG) === base.taskDefinitionArn &&
      latest.definition.taskRoleArn === this.options.homeRoles.roleArn(key);
    if (current) return { arn: latestArn, accessPointId: home };
    const role = await this.options.homeRoles.ensure(key, home);
    return { arn: await this.register(family, key, base, home, role.arn), accessPointId: home, role };
  }

  private async register(
    family: string,
    key: WorkspaceKey,
    base: TaskDefinition & { taskDefinitionArn: string },
    accessPointId: string,
    taskRoleArn: string,
  ): Promise<string> {
    const input: RegisterTaskDefinitionCommandInput = { family, containerDefinitions: base.containerDefinitions };
    for (const field of COPIED) if (base[field] !== undefined) Object.assign(input, { [field]: base[field] });
    input.taskRoleArn = taskRoleArn;
    input.volumes = (base.volumes ?? []).map((volume) => (volume.name === HOME_VOLUME ? this.homeVolume(accessPointId) : volume));
    input.tags = [
      { key: 'carrel:deployment', value: this.options.deploymentId },
      { key: 'carrel:analysis', value: key.analysisId },
      { key: 'carrel:user', value: key.userId },
      { key: HOME_TAG, value: accessPointId },
      { key: BASE_TAG, value: base.taskDefinitionArn },
    ];
    const out = await this.call(`Registering task definition ${family}`, () => this.ecs.send(new RegisterTaskDefinitionCommand(input)));
    const arn = out.taskDefinition?.taskDefinitionArn;
    if (!arn) throw new ComputeError(`ECS registered task definition ${family} but returned no ARN`);
    this.options.log.info('task definition registered for a home', { family, taskDefinitionArn: arn, accessPointId, base: base.taskDefinitionArn });
    return arn;
  }

  private homeVolume(accessPointId: string): Volume {
    return {
      name: HOME_VOLUME,
      efsVolumeConfiguration: {
        fileSystemId: this.options.fileSystemId,
        transitEncryption: 'ENABLED',
        authorizationConfig: { accessPointId, iam: 'ENABLED' },
      },
    };
  }

  /** The base task definition, read once per container (a failed read is retried next time). */
  private baseDefinition(): Promise<TaskDefinition & { taskDefinitionArn: string }> {
    this.base ??= (async () => {
      const arn = this.options.taskDefinitionArn;
      const out = await this.call(`Reading the workspace task definition ${arn}`, () =>
        this.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: arn })),
      );
      const definition = out.taskDefinition;
      if (!definition?.taskDefinitionArn || !definition.containerDefinitions?.length) {
        throw new ComputeError(`ECS returned no usable task definition for ${arn}`);
      }
      if (!definition.volumes?.some((volume) => volume.name === HOME_VOLUME)) {
        throw new ComputeError(`The workspace task definition ${arn} has no volume named "${HOME_VOLUME}"`);
      }
      if (definition.networkMode !== 'awsvpc') throw new ComputeError(`The workspace task definition ${arn} must use the awsvpc network mode`);
      return { ...definition, taskDefinitionArn: definition.taskDefinitionArn };
    })().catch((error: unknown) => {
      this.base = undefined;
      throw error;
    });
    return this.base;
  }

  /** The family's latest ACTIVE revision with its tags, or undefined when the family has none. */
  private async describeFamily(family: string): Promise<{ readonly definition: TaskDefinition; readonly tags: readonly Tag[] } | undefined> {
    try {
      const out = await this.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: family, include: ['TAGS'] }));
      return out.taskDefinition ? { definition: out.taskDefinition, tags: out.tags ?? [] } : undefined;
    } catch (error) {
      // ECS answers "Unable to describe task definition." (a ClientException) for a family it does not have.
      if (error instanceof ClientException) return undefined;
      throw computeFailure(error, `Reading task definition ${family}`);
    }
  }

  private async describeTask(taskArn: string): Promise<Task | undefined> {
    const out = await this.call(`Reading workspace task ${taskArn}`, () =>
      this.ecs.send(new DescribeTasksCommand({ cluster: this.options.clusterArn, tasks: [taskArn], include: ['TAGS'] })),
    );
    return out.tasks?.find((task) => task.taskArn === taskArn);
  }

  private async stopTask(taskArn: string, reason: string): Promise<void> {
    try {
      await this.ecs.send(new StopTaskCommand({ cluster: this.options.clusterArn, task: taskArn, reason }));
    } catch (error) {
      // A task ECS no longer knows is already gone (a stopped one is still known, and StopTask accepts it).
      if ((error instanceof InvalidParameterException || error instanceof ClientException) && /not (be )?found/i.test(error.message)) {
        this.options.log.info('workspace task already gone', { taskArn });
        return;
      }
      throw computeFailure(error, `Stopping workspace task ${taskArn}`);
    }
  }

  private async call<T>(what: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw computeFailure(error, what);
    }
  }
}

/** The access point a task definition's `home` volume mounts from this file system. */
function homeAccessPoint(definition: TaskDefinition, fileSystemId: string): string | undefined {
  const efs = definition.volumes?.find((volume) => volume.name === HOME_VOLUME)?.efsVolumeConfiguration;
  return efs?.fileSystemId === fileSystemId ? efs.authorizationConfig?.accessPointId : undefined;
}

/**
 * `zone`: this subnet's zone has no Fargate capacity or addresses (try the next subnet); `transient`: an
 * account-wide resource is short for now (network interfaces); anything else is a configuration problem.
 */
function classify(failures: readonly Failure[]): 'zone' | 'transient' | 'permanent' {
  const text = failures.map(describeFailure).join(' ');
  if (/capacity|(no|insufficient|not enough)( free| available)? (ip )?address/i.test(text)) return 'zone';
  if (failures.some((failure) => failure.reason?.startsWith('RESOURCE:'))) return 'transient';
  return 'permanent';
}

function describeFailure(failure: Failure): string {
  return [failure.reason, failure.detail].filter(Boolean).join(': ');
}

/** ECS task status → core state. A STOPPED task is gone for good on Fargate, hence `terminated`. */
function stateOf(task: Task): InstanceView['state'] {
  const last = task.lastStatus ?? '';
  if (last === 'STOPPED' || last === 'DELETED') return 'terminated';
  if (task.desiredStatus === 'STOPPED' || ['DEACTIVATING', 'STOPPING', 'DEPROVISIONING'].includes(last)) return 'stopping';
  if (last === 'RUNNING') return 'running';
  return 'pending';
}

function tagRecord(tags: readonly Tag[] | undefined): Record<string, string> {
  const record: Record<string, string> = {};
  for (const { key, value } of tags ?? []) if (key !== undefined) record[key] = value ?? '';
  return record;
}

function tagValue(tags: readonly Tag[] | undefined, key: string): string | undefined {
  return tags?.find((tag) => tag.key === key)?.value;
}
