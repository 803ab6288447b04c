/**
 * A modeled AWS account for the open→ready model: one SDK client per service, mocked with
 * aws-sdk-client-mock, answering the way the services answer (shapes, ids, states, idempotency by client
 * token, SDK-shaped errors), over a small in-memory cloud (instances, tasks, access points, records). Every
 * call goes through the current Timeline, which gives it its modeled start and latency; DynamoDB is real
 * (dynalite, through the real DynamoWorkspaceStore) and is timed by a middleware on its document client.
 *
 * What is not an AWS call but takes time on a workspace host (boot, SSH, the provisioning script, Jupyter)
 * is modeled here too: the console shows the host keys once the modeled boot is over, and SSH provisioning
 * (`ModelRemote`) records the script's steps as waits.
 */
import { createHash, createPublicKey, generateKeyPairSync, sign as signWithKey, type KeyObject } from 'node:crypto';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeInstancesCommand,
  EC2Client,
  EC2ServiceException,
  GetConsoleOutputCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type CreateTagsCommandInput,
  type DeleteTagsCommandInput,
  type DescribeInstancesCommandInput,
  type Filter,
  type GetConsoleOutputCommandInput,
  type Instance,
  type InstanceStateName,
  type RunInstancesCommandInput,
  type StartInstancesCommandInput,
  type StopInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import {
  ClientException,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
  type DescribeTaskDefinitionCommandInput,
  type DescribeTasksCommandInput,
  type ListTasksCommandInput,
  type RegisterTaskDefinitionCommandInput,
  type RunTaskCommandInput,
  type StopTaskCommandInput,
  type Tag as EcsTag,
  type Task,
  type TaskDefinition,
} from '@aws-sdk/client-ecs';
import { AccessPointAlreadyExists, CreateAccessPointCommand, EFSClient, type CreateAccessPointCommandInput } from '@aws-sdk/client-efs';
import { CreateRoleCommand, EntityAlreadyExistsException, GetRoleCommand, IAMClient, PutRolePolicyCommand, type CreateRoleCommandInput, type Role } from '@aws-sdk/client-iam';
import { GetPublicKeyCommand, KMSClient, SignCommand, type SignCommandInput } from '@aws-sdk/client-kms';
import { InvokeCommand, LambdaClient, type InvokeCommandInput } from '@aws-sdk/client-lambda';
import {
  ChangeResourceRecordSetsCommand,
  InvalidChangeBatch,
  ListResourceRecordSetsCommand,
  Route53Client,
  type ChangeResourceRecordSetsCommandInput,
  type ListResourceRecordSetsCommandInput,
  type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { GetSecretValueCommand, SecretsManagerClient, type GetSecretValueCommandInput } from '@aws-sdk/client-secrets-manager';
import { mockClient, type AwsStub } from 'aws-sdk-client-mock';
import { operationName } from '../../lambdas/adapters/aws/operation-counter.js';
import { FINGERPRINTS_BEGIN, FINGERPRINTS_END } from '../../lambdas/adapters/aws/console-host-keys.js';
import type { ProvisionJob, ProvisionResult, RemoteProvisioning, SshTarget } from '../../lambdas/adapters/ssh-provisioning.js';
import { serviceError } from '../unit/aws/sdk-errors.js';
import { WAITS } from './aws-latencies.js';
import { Timeline, type Service, type Step } from './aws-timeline.js';

export const REGION = 'eu-west-2';
export const ACCOUNT = '123456789012';
const CREDENTIALS = { accessKeyId: 'model', secretAccessKey: 'model' };

const STATE_CODES: Readonly<Record<InstanceStateName, number>> = { pending: 0, running: 16, 'shutting-down': 32, terminated: 48, stopping: 64, stopped: 80 };

export interface ModelInstance {
  readonly instanceId: string;
  readonly instanceType: string;
  readonly subnetId: string;
  readonly privateIp: string;
  readonly clientToken: string;
  state: InstanceStateName;
  tags: Record<string, string>;
  /** Modeled seconds (current timeline) when the last RunInstances/StartInstances returned. */
  startedAt?: number;
  /** When EC2 reports `running` for that start. */
  runningAt?: number;
  /** When the host key fingerprints are on the console (sshd is up) for that start. */
  keysAt?: number;
  /** The root volume has been read through once (a fresh volume restored from the image has not). */
  volumeWarm: boolean;
  readonly fingerprints: readonly string[];
}

export interface ModelTask {
  readonly taskArn: string;
  readonly taskDefinitionArn: string;
  readonly startedBy: string;
  readonly clientToken: string;
  readonly subnetId: string;
  readonly privateIp: string;
  readonly eniId: string;
  lastStatus: string;
  desiredStatus: string;
  readonly tags: EcsTag[];
  /** Modeled seconds (current timeline) when RunTask returned. */
  startedAt?: number;
}

/** The provisioning script's view of a host and a home (what a re-run finds done). */
interface HostState {
  userCreated: boolean;
  gateEnv?: string;
}

export interface Invocation {
  readonly functionName: string;
  readonly payload: unknown;
}

type Handler = (input: any, step: Step) => unknown;

/**
 * The modeled account. `timeline` is the one calls are laid out on; setup work uses a scratch timeline
 * (`offTheRecord`) so only the path being modeled is measured.
 */
export class ModelWorld {
  timeline = new Timeline();
  /** Wall-clock base of modeled t=0 (ms since the epoch): the desk's clock reads base + timeline.now(). */
  clockBase = Date.parse('2030-01-01T09:00:00.000Z');

  readonly ec2 = new EC2Client({ region: REGION, credentials: CREDENTIALS });
  readonly ecs = new ECSClient({ region: REGION, credentials: CREDENTIALS });
  readonly efs = new EFSClient({ region: REGION, credentials: CREDENTIALS });
  readonly route53 = new Route53Client({ region: 'us-east-1', credentials: CREDENTIALS });
  readonly lambda = new LambdaClient({ region: REGION, credentials: CREDENTIALS });
  readonly kms = new KMSClient({ region: REGION, credentials: CREDENTIALS });
  readonly iam = new IAMClient({ region: REGION, credentials: CREDENTIALS });
  /** IAM roles by name (the Fargate home task roles). */
  readonly roles = new Map<string, Role>();
  readonly secrets = new SecretsManagerClient({ region: REGION, credentials: CREDENTIALS });
  private readonly mocks: AwsStub<any, any, any>[] = [];

  readonly instances = new Map<string, ModelInstance>();
  readonly tasks = new Map<string, ModelTask>();
  readonly accessPoints = new Map<string, { readonly accessPointId: string; readonly rootPath: string }>();
  readonly records = new Map<string, ResourceRecordSet>();
  readonly taskDefinitions = new Map<string, { readonly definition: TaskDefinition; readonly tags: EcsTag[] }[]>();
  readonly invocations: Invocation[] = [];
  readonly secretValues = new Map<string, string>();
  /** Homes whose blank project has been filled (the marker in the home). */
  readonly filledHomes = new Set<string>();
  private readonly hosts = new Map<string, HostState>();
  /** Calls to operations this world has no answer for (a model gap to report, never silently ignored). */
  readonly unanswered: string[] = [];

  private readonly signingKey: KeyObject;
  readonly keyArn = `arn:aws:kms:${REGION}:${ACCOUNT}:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0`;
  private seq = 0;

  constructor(
    readonly deskDomain: string,
    readonly hostedZoneId: string,
    readonly baseTaskDefinition: TaskDefinition & { taskDefinitionArn: string },
  ) {
    this.signingKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    for (const record of [
      { Name: `${deskDomain}.`, Type: 'A', AliasTarget: { HostedZoneId: 'Z2FDTNDATAQYW2', DNSName: 'd111111abcdef8.cloudfront.net.', EvaluateTargetHealth: false } },
      { Name: `api.${deskDomain}.`, Type: 'CNAME', TTL: 300, ResourceRecords: [{ Value: 'abcdefghij.execute-api.eu-west-2.amazonaws.com' }] },
      { Name: `www.${deskDomain.split('.').slice(1).join('.')}.`, Type: 'CNAME', TTL: 300, ResourceRecords: [{ Value: 'example.org' }] },
    ] satisfies ResourceRecordSet[]) {
      this.records.set(`${record.Name}|${record.Type}`, record);
    }
    this.taskDefinitions.set(baseTaskDefinition.family!, [{ definition: baseTaskDefinition, tags: [] }]);
    this.mockAll();
  }

  /** Run setup work without measuring it. */
  async offTheRecord<T>(run: () => Promise<T>): Promise<T> {
    const measured = this.timeline;
    this.timeline = new Timeline();
    this.timeline.resumeAfter(undefined);
    try {
      return await run();
    } finally {
      this.timeline = measured;
    }
  }

  /** The desk's clock: modeled time on the current timeline. */
  readonly clock = { now: (): Date => new Date(this.clockBase + this.timeline.now() * 1000) };

  /** Time DynamoDB (dynalite) calls on the current timeline, by operation, from the document client. */
  attachDynamo(doc: DynamoDBDocumentClient): () => void {
    const name = `carrelAwsModel${++this.seq}`;
    doc.middlewareStack.add(
      (next, context) => async (args) => {
        const step = this.timeline.begin('DynamoDB', operationName(String(context.commandName ?? 'Unknown')));
        try {
          return await next(args);
        } finally {
          this.timeline.finish(step);
        }
      },
      { step: 'initialize', name },
    );
    return () => doc.middlewareStack.remove(name);
  }

  /** The public key DER of the desk's KMS signing key (what GetPublicKey answers). */
  publicKeyDer(): Uint8Array {
    return new Uint8Array(createPublicKey(this.signingKey).export({ type: 'spki', format: 'der' }));
  }

  takeInvocation(): Invocation {
    const invocation = this.invocations.shift();
    if (!invocation) throw new Error('the model expected a Lambda invocation (the provisioner), but none was made');
    return invocation;
  }

  setInstanceState(instanceId: string, state: InstanceStateName): ModelInstance {
    const instance = this.instances.get(instanceId);
    if (!instance) throw new Error(`no modeled instance ${instanceId}`);
    instance.state = state;
    return instance;
  }

  /**
   * An instance that has been running for a while before the path starts (a warm-pool spare): booted, its
   * host keys on the console, and its volume read through by the image's carrel-prewarm.service while it waited.
   */
  settle(instanceId: string): ModelInstance {
    const instance = this.setInstanceState(instanceId, 'running');
    instance.runningAt = Number.NEGATIVE_INFINITY;
    instance.keysAt = Number.NEGATIVE_INFINITY;
    instance.volumeWarm = true;
    return instance;
  }

  restore(): void {
    for (const mock of this.mocks) mock.restore();
    for (const client of [this.ec2, this.ecs, this.efs, this.route53, this.lambda, this.kms, this.iam, this.secrets]) client.destroy();
  }

  // ------------------------------------------------------------------------------------------ mocks

  private mockAll(): void {
    const ec2 = this.mock(this.ec2, 'EC2');
    this.on(ec2, 'EC2', RunInstancesCommand, (input: RunInstancesCommandInput, step) => this.runInstances(input, step));
    this.on(ec2, 'EC2', StartInstancesCommand, (input: StartInstancesCommandInput, step) => this.startInstances(input, step));
    this.on(ec2, 'EC2', StopInstancesCommand, (input: StopInstancesCommandInput) => this.stopInstances(input));
    this.on(ec2, 'EC2', TerminateInstancesCommand, (input: { InstanceIds?: string[] }) => ({
      TerminatingInstances: (input.InstanceIds ?? []).map((id) => {
        const previous = this.instances.get(id)?.state ?? 'running';
        if (this.instances.has(id)) this.setInstanceState(id, 'shutting-down');
        return { InstanceId: id, CurrentState: state('shutting-down'), PreviousState: state(previous) };
      }),
    }));
    this.on(ec2, 'EC2', CreateTagsCommand, (input: CreateTagsCommandInput) => {
      for (const id of input.Resources ?? []) {
        const instance = this.instances.get(id);
        if (instance) for (const { Key, Value } of input.Tags ?? []) if (Key) instance.tags[Key] = Value ?? '';
      }
      return {};
    });
    this.on(ec2, 'EC2', DeleteTagsCommand, (input: DeleteTagsCommandInput) => {
      for (const id of input.Resources ?? []) {
        const instance = this.instances.get(id);
        if (instance) for (const { Key } of input.Tags ?? []) if (Key) delete instance.tags[Key];
      }
      return {};
    });
    this.on(ec2, 'EC2', DescribeInstancesCommand, (input: DescribeInstancesCommandInput) => this.describeInstances(input));
    this.on(ec2, 'EC2', GetConsoleOutputCommand, (input: GetConsoleOutputCommandInput, step) => this.consoleOutput(input, step));

    const ecs = this.mock(this.ecs, 'ECS');
    this.on(ecs, 'ECS', DescribeTaskDefinitionCommand, (input: DescribeTaskDefinitionCommandInput) => this.describeTaskDefinition(input));
    this.on(ecs, 'ECS', RegisterTaskDefinitionCommand, (input: RegisterTaskDefinitionCommandInput) => this.registerTaskDefinition(input));
    this.on(ecs, 'ECS', RunTaskCommand, (input: RunTaskCommandInput, step) => this.runTask(input, step));
    this.on(ecs, 'ECS', DescribeTasksCommand, (input: DescribeTasksCommandInput) => ({
      tasks: (input.tasks ?? []).flatMap((arn) => {
        const task = this.tasks.get(arn);
        return task ? [this.taskShape(task, (input.include ?? []).includes('TAGS'))] : [];
      }),
      failures: (input.tasks ?? []).filter((arn) => !this.tasks.has(arn)).map((arn) => ({ arn, reason: 'MISSING' })),
    }));
    this.on(ecs, 'ECS', ListTasksCommand, (input: ListTasksCommandInput) => ({
      taskArns: [...this.tasks.values()]
        .filter((task) => (!input.startedBy || task.startedBy === input.startedBy) && (!input.desiredStatus || task.desiredStatus === input.desiredStatus))
        .map((task) => task.taskArn),
    }));
    this.on(ecs, 'ECS', StopTaskCommand, (input: StopTaskCommandInput) => {
      const task = this.tasks.get(input.task ?? '');
      if (!task) throw new ClientException({ message: 'The referenced task was not found.', $metadata: meta(400) });
      task.desiredStatus = 'STOPPED';
      return { task: this.taskShape(task, false) };
    });

    const iam = this.mock(this.iam, 'IAM');
    this.on(iam, 'IAM', CreateRoleCommand, (input: CreateRoleCommandInput) => {
      if (this.roles.has(input.RoleName!)) throw new EntityAlreadyExistsException({ message: `Role with name ${input.RoleName} already exists.`, $metadata: meta(409) });
      const role: Role = {
        RoleName: input.RoleName!,
        Path: input.Path!,
        RoleId: `AROA${this.id('', 17).toUpperCase()}`,
        Arn: `arn:aws:iam::${ACCOUNT}:role${input.Path}${input.RoleName}`,
        CreateDate: new Date(this.clockBase + this.timeline.now() * 1000),
        PermissionsBoundary: { PermissionsBoundaryType: 'PermissionsBoundaryPolicy', PermissionsBoundaryArn: input.PermissionsBoundary },
      };
      this.roles.set(input.RoleName!, role);
      return { Role: role };
    });
    this.on(iam, 'IAM', GetRoleCommand, (input: { RoleName: string }) => ({ Role: this.roles.get(input.RoleName) }));
    this.on(iam, 'IAM', PutRolePolicyCommand, () => ({}));

    const efs = this.mock(this.efs, 'EFS');
    this.on(efs, 'EFS', CreateAccessPointCommand, (input: CreateAccessPointCommandInput) => this.createAccessPoint(input));

    const route53 = this.mock(this.route53, 'Route 53');
    this.on(route53, 'Route 53', ChangeResourceRecordSetsCommand, (input: ChangeResourceRecordSetsCommandInput) => this.changeRecords(input));
    this.on(route53, 'Route 53', ListResourceRecordSetsCommand, (input: ListResourceRecordSetsCommandInput) => this.listRecords(input));

    const lambda = this.mock(this.lambda, 'Lambda');
    this.on(lambda, 'Lambda', InvokeCommand, (input: InvokeCommandInput) => {
      const text = input.Payload ? new TextDecoder().decode(input.Payload as Uint8Array) : '{}';
      this.invocations.push({ functionName: String(input.FunctionName), payload: JSON.parse(text) as unknown });
      return { StatusCode: input.InvocationType === 'Event' ? 202 : 200, $metadata: { httpStatusCode: 202 } };
    });

    const kms = this.mock(this.kms, 'KMS');
    this.on(kms, 'KMS', SignCommand, (input: SignCommandInput) => {
      if (input.MessageType !== 'RAW' || input.SigningAlgorithm !== 'ECDSA_SHA_256') throw new Error(`the model signs RAW ECDSA_SHA_256 messages only (${input.MessageType})`);
      const signature = signWithKey('sha256', input.Message as Uint8Array, { key: this.signingKey, dsaEncoding: 'der' });
      return { KeyId: this.keyArn, Signature: new Uint8Array(signature), SigningAlgorithm: 'ECDSA_SHA_256' };
    });
    this.on(kms, 'KMS', GetPublicKeyCommand, () => ({
      KeyId: this.keyArn,
      PublicKey: this.publicKeyDer(),
      KeySpec: 'ECC_NIST_P256',
      KeyUsage: 'SIGN_VERIFY',
      SigningAlgorithms: ['ECDSA_SHA_256'],
    }));

    const secrets = this.mock(this.secrets, 'Secrets Manager');
    this.on(secrets, 'Secrets Manager', GetSecretValueCommand, (input: GetSecretValueCommandInput) => {
      const value = this.secretValues.get(String(input.SecretId));
      if (value === undefined) throw new Error(`no modeled secret ${String(input.SecretId)}`);
      return { ARN: input.SecretId, Name: String(input.SecretId).split(':').pop(), VersionId: 'v1', SecretString: value, CreatedDate: new Date(this.clockBase) };
    });
  }

  private mock(client: EC2Client | ECSClient | EFSClient | IAMClient | Route53Client | LambdaClient | KMSClient | SecretsManagerClient, service: Service): AwsStub<any, any, any> {
    const stub = mockClient(client as never) as unknown as AwsStub<any, any, any>;
    stub.onAnyCommand().callsFake(() => {
      this.unanswered.push(service);
      throw new Error(`the AWS model has no answer for this ${service} call`);
    });
    this.mocks.push(stub);
    return stub;
  }

  private on(stub: AwsStub<any, any, any>, service: Service, command: { readonly name: string }, handler: Handler): void {
    const operation = command.name.replace(/Command$/, '');
    stub.on(command as never).callsFake((input: unknown) => this.timeline.call(service, operation, (step) => handler(input, step)));
  }

  private id(prefix: string, length = 17): string {
    return `${prefix}${createHash('sha256').update(`${prefix}${++this.seq}`).digest('hex').slice(0, length)}`;
  }

  // -------------------------------------------------------------------------------------------- EC2

  private runInstances(input: RunInstancesCommandInput, step: Step) {
    const token = input.ClientToken ?? '';
    let instance = [...this.instances.values()].find((i) => i.clientToken === token && token !== '');
    if (!instance) {
      const tags: Record<string, string> = {};
      for (const spec of input.TagSpecifications ?? []) if (spec.ResourceType === 'instance') for (const { Key, Value } of spec.Tags ?? []) if (Key) tags[Key] = Value ?? '';
      const n = this.instances.size + 10;
      instance = {
        instanceId: this.id('i-'),
        instanceType: String(input.InstanceType),
        subnetId: String(input.SubnetId),
        privateIp: `10.0.${16 + (n >> 8)}.${n & 255}`,
        clientToken: token,
        state: 'pending',
        tags,
        volumeWarm: false,
        fingerprints: [fingerprint(`ecdsa-${n}`), fingerprint(`ed25519-${n}`)],
      };
      this.instances.set(instance.instanceId, instance);
      this.scheduleBoot(instance, step, WAITS.ec2BootFresh.seconds);
    }
    return { ReservationId: this.id('r-'), OwnerId: ACCOUNT, Groups: [], Instances: [this.instanceShape(instance)] };
  }

  private startInstances(input: StartInstancesCommandInput, step: Step) {
    return {
      StartingInstances: (input.InstanceIds ?? []).map((id) => {
        const instance = this.instances.get(id);
        if (!instance) throw serviceError(EC2ServiceException, 'InvalidInstanceID.NotFound', 400, `The instance ID '${id}' does not exist`);
        const previous = instance.state;
        if (previous === 'stopped') {
          instance.state = 'pending';
          this.scheduleBoot(instance, step, instance.volumeWarm ? WAITS.ec2BootResume.seconds : WAITS.ec2BootFresh.seconds);
        }
        return { InstanceId: id, CurrentState: state(instance.state), PreviousState: state(previous) };
      }),
    };
  }

  private scheduleBoot(instance: ModelInstance, step: Step, bootSeconds: number): void {
    instance.startedAt = step.end;
    instance.runningAt = step.end + WAITS.ec2PendingToRunning.seconds;
    instance.keysAt = instance.runningAt + bootSeconds;
  }

  private stopInstances(input: StopInstancesCommandInput) {
    return {
      StoppingInstances: (input.InstanceIds ?? []).map((id) => {
        const instance = this.instances.get(id);
        const previous = instance?.state ?? 'running';
        if (instance) instance.state = 'stopping';
        return { InstanceId: id, CurrentState: state('stopping'), PreviousState: state(previous) };
      }),
    };
  }

  private describeInstances(input: DescribeInstancesCommandInput) {
    const ids = input.InstanceIds;
    const matches = [...this.instances.values()].filter(
      (instance) => (!ids?.length || ids.includes(instance.instanceId)) && (input.Filters ?? []).every((filter) => matchesFilter(instance, filter)),
    );
    return { Reservations: matches.map((instance) => ({ ReservationId: this.id('r-'), OwnerId: ACCOUNT, Instances: [this.instanceShape(instance)] })) };
  }

  /**
   * The live console (Nitro, `Latest`): the boot so far; the fingerprint block once the modeled boot has
   * reached sshd. The keys are the instance's own (they stay on its volume across stop/start).
   */
  private consoleOutput(input: GetConsoleOutputCommandInput, step: Step) {
    const instance = this.instances.get(String(input.InstanceId));
    if (!instance) throw new Error(`no modeled instance ${String(input.InstanceId)}`);
    const lines = ['[    0.000000] Linux version 6.1.0-28-cloud-arm64 (debian-kernel@lists.debian.org)', '[    2.104512] EXT4-fs (nvme0n1p1): mounted filesystem'];
    if (instance.keysAt !== undefined && step.start >= instance.keysAt) {
      lines.push(
        'cloud-init[812]: Cloud-init v. 24.1 running \'modules:final\'',
        `ec2: ${FINGERPRINTS_BEGIN}`,
        ...instance.fingerprints.map((f, i) => `ec2: 256 ${f} root@ip-${instance.privateIp.replace(/\./g, '-')} (${i === 0 ? 'ECDSA' : 'ED25519'})`),
        `ec2: ${FINGERPRINTS_END}`,
      );
    }
    return { InstanceId: instance.instanceId, Timestamp: new Date(this.clockBase + step.start * 1000), Output: Buffer.from(`${lines.join('\n')}\n`).toString('base64') };
  }

  private instanceShape(instance: ModelInstance): Instance {
    return {
      InstanceId: instance.instanceId,
      ImageId: 'ami-0c0ffee0c0ffee000',
      InstanceType: instance.instanceType as Instance['InstanceType'],
      LaunchTime: new Date(this.clockBase),
      SubnetId: instance.subnetId,
      VpcId: 'vpc-0a1b2c3d4e5f60718',
      PrivateIpAddress: instance.privateIp,
      PrivateDnsName: `ip-${instance.privateIp.replace(/\./g, '-')}.${REGION}.compute.internal`,
      State: state(instance.state),
      ClientToken: instance.clientToken,
      MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 1, State: 'applied' },
      Tags: Object.entries(instance.tags).map(([Key, Value]) => ({ Key, Value })),
    };
  }

  // -------------------------------------------------------------------------------------------- ECS

  private describeTaskDefinition(input: DescribeTaskDefinitionCommandInput) {
    const wanted = String(input.taskDefinition);
    const all = [...this.taskDefinitions.values()].flat();
    const byArn = all.find((entry) => entry.definition.taskDefinitionArn === wanted);
    const family = this.taskDefinitions.get(wanted)?.at(-1);
    const found = byArn ?? family;
    if (!found) throw new ClientException({ message: 'Unable to describe task definition.', $metadata: meta(400) });
    return { taskDefinition: found.definition, ...((input.include ?? []).includes('TAGS') ? { tags: found.tags } : {}) };
  }

  private registerTaskDefinition(input: RegisterTaskDefinitionCommandInput) {
    const family = String(input.family);
    const revisions = this.taskDefinitions.get(family) ?? [];
    const revision = revisions.length + 1;
    const definition: TaskDefinition = {
      ...(input as TaskDefinition),
      taskDefinitionArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/${family}:${revision}`,
      family,
      revision,
      status: 'ACTIVE',
      compatibilities: ['EC2', 'FARGATE'],
      registeredAt: new Date(this.clockBase),
    };
    delete (definition as { tags?: unknown }).tags;
    revisions.push({ definition, tags: input.tags ?? [] });
    this.taskDefinitions.set(family, revisions);
    return { taskDefinition: definition, tags: input.tags ?? [] };
  }

  private runTask(input: RunTaskCommandInput, step: Step) {
    const token = input.clientToken ?? '';
    let task = [...this.tasks.values()].find((t) => t.clientToken === token && token !== '');
    if (!task) {
      const n = this.tasks.size + 40;
      task = {
        taskArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:task/carrel-prod/${this.id('', 32)}`,
        taskDefinitionArn: String(input.taskDefinition),
        startedBy: String(input.startedBy ?? ''),
        clientToken: token,
        subnetId: String(input.networkConfiguration?.awsvpcConfiguration?.subnets?.[0]),
        privateIp: `10.0.${32 + (n >> 8)}.${n & 255}`,
        eniId: this.id('eni-'),
        lastStatus: 'PROVISIONING',
        desiredStatus: 'RUNNING',
        tags: input.tags ?? [],
        startedAt: step.end,
      };
      this.tasks.set(task.taskArn, task);
    }
    return { tasks: [this.taskShape(task, true)], failures: [] };
  }

  taskShape(task: ModelTask, withTags: boolean): Task {
    return {
      taskArn: task.taskArn,
      clusterArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/carrel-prod`,
      taskDefinitionArn: task.taskDefinitionArn,
      lastStatus: task.lastStatus,
      desiredStatus: task.desiredStatus,
      launchType: 'FARGATE',
      startedBy: task.startedBy,
      group: `family:${task.taskDefinitionArn.split('/').pop()?.split(':')[0] ?? ''}`,
      attachments: [
        {
          id: this.id('', 8),
          type: 'ElasticNetworkInterface',
          status: task.lastStatus === 'PROVISIONING' ? 'PRECREATED' : 'ATTACHED',
          details: [
            { name: 'subnetId', value: task.subnetId },
            ...(task.lastStatus === 'PROVISIONING' ? [] : [{ name: 'networkInterfaceId', value: task.eniId }, { name: 'privateIPv4Address', value: task.privateIp }]),
          ],
        },
      ],
      ...(withTags ? { tags: task.tags } : {}),
    };
  }

  // -------------------------------------------------------------------------------------------- EFS

  private createAccessPoint(input: CreateAccessPointCommandInput) {
    const token = String(input.ClientToken);
    const existing = this.accessPoints.get(token);
    if (existing) {
      throw new AccessPointAlreadyExists({
        message: 'An access point with the same client token already exists',
        $metadata: meta(409),
        ErrorCode: 'AccessPointAlreadyExists',
        AccessPointId: existing.accessPointId,
      });
    }
    const accessPointId = this.id('fsap-');
    this.accessPoints.set(token, { accessPointId, rootPath: String(input.RootDirectory?.Path) });
    return {
      ClientToken: token,
      Tags: input.Tags,
      AccessPointId: accessPointId,
      AccessPointArn: `arn:aws:elasticfilesystem:${REGION}:${ACCOUNT}:access-point/${accessPointId}`,
      FileSystemId: input.FileSystemId,
      PosixUser: input.PosixUser,
      RootDirectory: input.RootDirectory,
      OwnerId: ACCOUNT,
      LifeCycleState: 'creating',
    };
  }

  // --------------------------------------------------------------------------------------- Route 53

  private changeRecords(input: ChangeResourceRecordSetsCommandInput) {
    for (const change of input.ChangeBatch?.Changes ?? []) {
      const record = change.ResourceRecordSet!;
      const key = `${String(record.Name).toLowerCase()}|${record.Type}`;
      if (change.Action === 'DELETE') {
        const current = this.records.get(key);
        if (!current) {
          const message = `Tried to delete resource record set [name='${record.Name}', type='${record.Type}'] but it was not found`;
          throw new InvalidChangeBatch({ message, messages: [message], $metadata: meta(400) });
        }
        this.records.delete(key);
      } else {
        this.records.set(key, { ...record, Name: String(record.Name).toLowerCase() });
      }
    }
    return { ChangeInfo: { Id: `/change/${this.id('C', 20).toUpperCase()}`, Status: 'PENDING', SubmittedAt: new Date(this.clockBase), Comment: input.ChangeBatch?.Comment } };
  }

  /** Route 53 order: names compared label by label from the right, then type; pages of MaxItems (default 300). */
  private listRecords(input: ListResourceRecordSetsCommandInput) {
    const sorted = [...this.records.values()].sort((a, b) => compareRecords(a, b));
    const startName = input.StartRecordName?.toLowerCase();
    const from = startName ? sorted.findIndex((r) => compareRecords(r, { Name: startName, Type: input.StartRecordType ?? ('' as never) }) >= 0) : 0;
    const max = Number(input.MaxItems ?? 300);
    const rest = from < 0 ? [] : sorted.slice(from);
    const page = rest.slice(0, max);
    const next = rest[max];
    return { ResourceRecordSets: page, IsTruncated: Boolean(next), MaxItems: max, ...(next ? { NextRecordName: next.Name, NextRecordType: next.Type } : {}) };
  }

  // ---------------------------------------------------------------------------------- SSH provisioning

  /** Whether provision.sh on this host already created the researcher's user (it stays on the root volume). */
  host(instanceId: string): HostState {
    let host = this.hosts.get(instanceId);
    if (!host) this.hosts.set(instanceId, (host = { userCreated: false }));
    return host;
  }

  instanceByAddress(address: string): ModelInstance | undefined {
    return [...this.instances.values()].find((i) => i.privateIp === address);
  }
}

/**
 * SSH provisioning on a modeled host: verifies the host key the provisioner expects is the instance's,
 * then records the script's steps (assets/provision/provision.sh) as waits, doing on a re-run only what a
 * re-run does (the mount after every boot, the project on first use only, gate restart when its
 * environment changed, the tool when not running).
 */
export class ModelRemote implements RemoteProvisioning {
  constructor(private readonly world: ModelWorld) {}

  async provision(target: SshTarget, job: ProvisionJob): Promise<ProvisionResult> {
    const t = this.world.timeline;
    const instance = this.world.instanceByAddress(target.host);
    if (!instance) return { ok: false, stage: 'connect', reason: `no modeled host at ${target.host}`, changes: [] };
    if (!target.hostKeyFingerprints.some((f) => instance.fingerprints.includes(f))) {
      return { ok: false, stage: 'host-key', reason: 'the expected host keys are not the instance\'s', changes: [] };
    }
    const actor = 'workspace (SSH)';
    const arg = (name: string) => job.args[job.args.indexOf(name) + 1] ?? '';
    const host = this.world.host(instance.instanceId);
    const accessPoint = arg('--access-point');
    const gateEnv = job.files.find((f) => f.path === 'gate.env');
    const gateEnvText = gateEnv ? Buffer.from(gateEnv.content).toString('utf8') : '';
    const changes: string[] = [];

    t.waitFor('SSH: connect, host key checked against the console, authenticate', 'sshConnect', WAITS.sshConnect, { actor });
    t.waitFor(`SFTP: upload ${job.files.length} files`, 'sftpUpload', WAITS.sftpUpload, { actor });
    t.waitFor(`provision.sh: user ${host.userCreated ? 'exists' : 'created'}`, 'scriptUser', WAITS.scriptUser, { actor });
    if (!host.userCreated) changes.push('created user');
    t.waitFor('provision.sh: mount the EFS home (efs-utils, TLS, IAM, access point)', 'efsMountTls', WAITS.efsMountTls, { actor });
    changes.push('mounted home');
    if (!this.world.filledHomes.has(accessPoint)) {
      t.waitFor('provision.sh: first use, fill the blank project (template, data API key, git remote)', 'projectFill', WAITS.projectFill, { actor });
      changes.push('filled project');
    }
    t.waitFor('provision.sh: gate bundle, environment, certificate', 'gateFiles', WAITS.gateFiles, { actor });
    const gateChanged = host.gateEnv !== gateEnvText;
    t.waitFor(`systemd: ${gateChanged ? 'restart carrel-gate (new environment), ' : ''}start carrel-tool`, 'systemdRestart', WAITS.systemdRestart, { actor });
    if (instance.volumeWarm) {
      t.waitFor('Jupyter starts (volume already read once, cold page cache)', 'jupyterStartWarmVolume', WAITS.jupyterStartWarmVolume, { actor });
    } else {
      t.waitFor('Jupyter starts (first read of each block of a volume fresh from the image)', 'jupyterStartFreshVolume', WAITS.jupyterStartFreshVolume, { actor });
    }
    t.wait('provision.sh polls the gate health every 1 s (`sleep 1`): expected half an interval', 0.5, 'assets/provision/provision.sh: until curl .../__carrel/health; sleep 1', { actor });

    host.userCreated = true;
    host.gateEnv = gateEnvText;
    this.world.filledHomes.add(accessPoint);
    instance.volumeWarm = true;
    return { ok: true, changes, summary: `carrel-provision: ok, ${changes.length} changes`, durationMs: 0 };
  }
}

/** Response metadata of a modeled service error (what the SDK puts on errors it deserializes). */
function meta(httpStatusCode: number) {
  return { httpStatusCode, requestId: 'model-request', attempts: 1, totalRetryDelay: 0 };
}

function state(name: InstanceStateName) {
  return { Code: STATE_CODES[name], Name: name };
}

function fingerprint(seed: string): string {
  return `SHA256:${createHash('sha256').update(seed).digest('base64').replace(/=+$/, '')}`;
}

function matchesFilter(instance: ModelInstance, filter: Filter): boolean {
  const values = filter.Values ?? [];
  const name = filter.Name ?? '';
  if (name.startsWith('tag:')) return values.includes(instance.tags[name.slice(4)] ?? '\u0000');
  if (name === 'instance-state-name') return values.includes(instance.state);
  if (name === 'client-token') return values.includes(instance.clientToken);
  throw new Error(`the EC2 model has no DescribeInstances filter ${name}`);
}

function reversedLabels(name: string): string[] {
  return name.toLowerCase().replace(/\.$/, '').split('.').reverse();
}

function compareRecords(a: Pick<ResourceRecordSet, 'Name' | 'Type'>, b: Pick<ResourceRecordSet, 'Name' | 'Type'>): number {
  const x = reversedLabels(String(a.Name));
  const y = reversedLabels(String(b.Name));
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  }
  if (x.length !== y.length) return x.length - y.length;
  return String(a.Type ?? '').localeCompare(String(b.Type ?? ''));
}
