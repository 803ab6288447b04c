import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  AccessDeniedException,
  ClientException,
  ClusterNotFoundException,
  ConflictException,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ECSServiceException,
  InvalidParameterException,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  ServerException,
  StopTaskCommand,
  type DescribeTaskDefinitionCommandInput,
  type Failure,
  type RegisterTaskDefinitionCommandInput,
  type RunTaskCommandInput,
  type Tag,
  type Task,
  type TaskDefinition,
} from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { fakeIamRoles } from '../../support/fake-iam.js';
import {
  CreateRoleCommand,
  IAMClient,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { HomeTaskRoles, homeRoleName } from '../../../lambdas/adapters/aws/iam-home-roles.js';
import { TransientError } from '../../../lambdas/core/errors.js';
import { workspaceTags } from '../../../lambdas/core/lifecycle.js';
import type { LaunchRequest, Log } from '../../../lambdas/core/ports.js';
import { ComputeError, NoCapacityError } from '../../../lambdas/adapters/aws/ec2-compute.js';
import { FargateCompute, startedByFor, type FargateComputeOptions } from '../../../lambdas/adapters/aws/ecs-compute.js';
import { makeWorkspace } from '../../support/fakes.js';
import { connectionReset, serviceError, serviceUnavailable, throttling, timeoutError } from './sdk-errors.js';

const REGION_ACCOUNT = 'eu-west-2:123456789012';
const CLUSTER = `arn:aws:ecs:${REGION_ACCOUNT}:cluster/carrel-prod`;
const BASE_ARN = `arn:aws:ecs:${REGION_ACCOUNT}:task-definition/carrel-prod-workspace:7`;
const FS = 'fs-0123456789abcdef0';
const AP = 'fsap-0aaaaaaaaaaaaaaaa';

const client = new ECSClient({ region: 'eu-west-2', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const ecs = mockClient(client);
const iamSdk = new IAMClient({ region: 'eu-west-2', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const iam = mockClient(iamSdk);
const HOME_ROLE = `arn:aws:iam::123456789012:role/carrel/prod/homes/${homeRoleName('prod', { analysisId: 'demo', userId: 'alice' })}`;

const fakeIam = (createdAt?: Date) => fakeIamRoles(iam, createdAt);

const silent: Log = { info() {}, warn() {}, error() {} };

function fargate(patch: Partial<FargateComputeOptions> = {}) {
  return new FargateCompute(client, {
    deploymentId: 'prod',
    clusterArn: CLUSTER,
    taskDefinitionArn: BASE_ARN,
    subnetIds: ['subnet-a', 'subnet-b'],
    securityGroupIds: ['sg-workspace'],
    assignPublicIp: false,
    sizes: { small: { instanceTypes: ['t4g.medium'], cpu: 1024, memoryMiB: 4096 }, ec2only: { instanceTypes: ['t4g.medium'] } },
    fileSystemId: FS,
    homeRoles: new HomeTaskRoles(iamSdk, { deploymentId: 'prod', location: { partition: 'aws', region: 'eu-west-2', account: '123456789012' }, fileSystemId: FS, log: silent }),
    log: silent,
    sleep: () => Promise.resolve(),
    ...patch,
  });
}

/** The base task definition as DescribeTaskDefinition returns it (with read-only fields a copy must drop). */
function baseDefinition(arn = BASE_ARN): TaskDefinition {
  return {
    taskDefinitionArn: arn,
    family: 'carrel-prod-workspace',
    revision: Number(arn.split(':').pop()),
    status: 'ACTIVE',
    taskRoleArn: `arn:aws:iam::123456789012:role/carrel-prod-workspace-task`,
    executionRoleArn: `arn:aws:iam::123456789012:role/carrel-prod-workspace-execution`,
    networkMode: 'awsvpc',
    requiresCompatibilities: ['FARGATE'],
    compatibilities: ['EC2', 'FARGATE'],
    requiresAttributes: [{ name: 'ecs.capability.efsAuth' }],
    cpu: '1024',
    memory: '4096',
    runtimePlatform: { cpuArchitecture: 'ARM64', operatingSystemFamily: 'LINUX' },
    containerDefinitions: [
      { name: 'tool', image: 'tool:1', essential: true, mountPoints: [{ sourceVolume: 'home', containerPath: '/home/researcher' }] },
      { name: 'gate', image: 'gate:1', essential: true, portMappings: [{ containerPort: 443 }] },
    ],
    volumes: [{ name: 'home' }, { name: 'scratch' }],
    registeredAt: new Date('2025-01-01T00:00:00Z'),
    registeredBy: 'arn:aws:sts::123456789012:assumed-role/cdk',
  };
}

/**
 * ECS as the adapter sees it: task definitions by family (latest ACTIVE revision wins), RunTask
 * idempotent by client token, tasks that DescribeTasks knows.
 */
function fakeEcs(
  options: { base?: TaskDefinition; failures?: (input: RunTaskCommandInput) => Failure[] | undefined; refuse?: (input: RunTaskCommandInput) => Error | undefined } = {},
) {
  const base = options.base ?? baseDefinition();
  const families = new Map<string, Array<{ definition: TaskDefinition; tags: Tag[] }>>();
  const tasksByToken = new Map<string, string>();
  const tasks = new Map<string, Task>();
  ecs.on(DescribeTaskDefinitionCommand).callsFake((input: DescribeTaskDefinitionCommandInput) => {
    if (input.taskDefinition === base.taskDefinitionArn) return { taskDefinition: base };
    const revisions = families.get(input.taskDefinition!);
    if (!revisions?.length) {
      throw new ClientException({ message: 'Unable to describe task definition.', $metadata: { httpStatusCode: 400 } });
    }
    const latest = revisions.at(-1)!;
    return { taskDefinition: latest.definition, tags: input.include?.includes('TAGS') ? latest.tags : undefined };
  });
  ecs.on(RegisterTaskDefinitionCommand).callsFake((input: RegisterTaskDefinitionCommandInput) => {
    const revisions = families.get(input.family!) ?? [];
    const definition: TaskDefinition = {
      ...input,
      taskDefinitionArn: `arn:aws:ecs:${REGION_ACCOUNT}:task-definition/${input.family}:${revisions.length + 1}`,
      revision: revisions.length + 1,
      status: 'ACTIVE',
    };
    delete (definition as { tags?: unknown }).tags;
    revisions.push({ definition, tags: input.tags ?? [] });
    families.set(input.family!, revisions);
    return { taskDefinition: definition, tags: input.tags };
  });
  ecs.on(RunTaskCommand).callsFake((input: RunTaskCommandInput) => {
    const refusal = options.refuse?.(input);
    if (refusal) throw refusal;
    const existing = tasksByToken.get(input.clientToken!);
    if (existing) return { tasks: [tasks.get(existing)], failures: [] };
    const failures = options.failures?.(input);
    if (failures?.length) return { tasks: [], failures };
    const taskArn = `arn:aws:ecs:${REGION_ACCOUNT}:task/carrel-prod/${String(tasks.size + 1).padStart(32, '0')}`;
    tasksByToken.set(input.clientToken!, taskArn);
    tasks.set(taskArn, { taskArn, lastStatus: 'PROVISIONING', desiredStatus: 'RUNNING', tags: input.tags, taskDefinitionArn: input.taskDefinition });
    return { tasks: [tasks.get(taskArn)], failures: [] };
  });
  ecs.on(DescribeTasksCommand).callsFake((input: { tasks?: string[] }) => {
    const known = (input.tasks ?? []).map((arn) => tasks.get(arn));
    return {
      tasks: known.filter(Boolean),
      failures: (input.tasks ?? []).filter((arn) => !tasks.has(arn)).map((arn) => ({ arn, reason: 'MISSING' })),
    };
  });
  return { families, tasks, tasksByToken };
}

function launchRequest(patch: Partial<LaunchRequest> = {}): LaunchRequest {
  const workspace = makeWorkspace('starting', { generation: 2 });
  return {
    workspace,
    clientToken: `${workspace.workspaceId}-${workspace.generation}`,
    home: { homeId: AP, created: false },
    tags: workspaceTags(workspace, 'prod'),
    ...patch,
  };
}

const inputs = <T>(command: Parameters<typeof ecs.commandCalls>[0]) => ecs.commandCalls(command).map((call) => call.args[0].input as T);
const runInputs = () => inputs<RunTaskCommandInput>(RunTaskCommand);
const registerInputs = () => inputs<RegisterTaskDefinitionCommandInput>(RegisterTaskDefinitionCommand);

describe('FargateCompute', () => {
  beforeEach(() => fakeIam());
  afterEach(() => {
    ecs.reset();
    iam.reset();
  });

  it('names the home’s task definition family after the deployment and a hash of the workspace key', () => {
    // Prepare
    const compute = fargate();

    // Act
    const family = compute.familyOf({ analysisId: 'demo', userId: 'alice' });

    // Assess
    assert.match(family, /^carrel-prod-ws-[0-9a-f]{16}$/);
    assert.equal(family, compute.familyOf({ analysisId: 'demo', userId: 'alice' }));
    assert.notEqual(family, compute.familyOf({ analysisId: 'demo', userId: 'bob' }));
    assert.match(fargate({ deploymentId: 'prod.eu' }).familyOf({ analysisId: 'demo', userId: 'alice' }), /^carrel-prod-eu-ws-[0-9a-f]{16}$/);
  });

  describe('launch', () => {
    it('registers a task definition mounting the home’s access point, then runs the task with tags, token and size', async () => {
      // Prepare
      const { tasks } = fakeEcs();
      const compute = fargate();
      const request = launchRequest();
      const family = compute.familyOf(request.workspace);

      // Act
      const launched = await compute.launch(request);

      // Assess
      assert.deepEqual(launched, { instanceId: [...tasks.keys()][0] });
      const base = baseDefinition();
      assert.deepEqual(registerInputs(), [
        {
          family,
          containerDefinitions: base.containerDefinitions,
          taskRoleArn: HOME_ROLE,
          executionRoleArn: base.executionRoleArn,
          networkMode: 'awsvpc',
          requiresCompatibilities: ['FARGATE'],
          cpu: '1024',
          memory: '4096',
          runtimePlatform: { cpuArchitecture: 'ARM64', operatingSystemFamily: 'LINUX' },
          volumes: [
            {
              name: 'home',
              efsVolumeConfiguration: { fileSystemId: FS, transitEncryption: 'ENABLED', authorizationConfig: { accessPointId: AP, iam: 'ENABLED' } },
            },
            { name: 'scratch' },
          ],
          tags: [
            { key: 'carrel:deployment', value: 'prod' },
            { key: 'carrel:analysis', value: 'demo' },
            { key: 'carrel:user', value: 'alice' },
            { key: 'carrel:home', value: AP },
            { key: 'carrel:base-task-definition', value: BASE_ARN },
          ],
        },
      ]);
      assert.deepEqual(runInputs(), [
        {
          cluster: CLUSTER,
          taskDefinition: `arn:aws:ecs:${REGION_ACCOUNT}:task-definition/${family}:1`,
          launchType: 'FARGATE',
          count: 1,
          networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-a'], securityGroups: ['sg-workspace'], assignPublicIp: 'DISABLED' } },
          overrides: { cpu: '1024', memory: '4096' },
          clientToken: 'wsalice0000000000000-2.0',
          startedBy: 'carrel-prod',
          tags: [
            { key: 'carrel:deployment', value: 'prod' },
            { key: 'carrel:analysis', value: 'demo' },
            { key: 'carrel:user', value: 'alice' },
            { key: 'carrel:workspace', value: 'wsalice0000000000000' },
            { key: 'carrel:generation', value: '2' },
            { key: 'carrel:home', value: AP },
          ],
          enableExecuteCommand: false,
        },
      ]);
    });

    it('gives the task a public IP only when configured', async () => {
      // Prepare
      fakeEcs();
      const compute = fargate({ assignPublicIp: true });

      // Act
      await compute.launch(launchRequest());

      // Assess
      assert.equal(runInputs()[0]?.networkConfiguration?.awsvpcConfiguration?.assignPublicIp, 'ENABLED');
    });

    it('registers the home’s task definition once for many launches, concurrent ones included', async () => {
      // Prepare
      fakeEcs();
      const compute = fargate();
      const requests = [1, 2, 3, 4, 5].map((generation) => {
        const workspace = makeWorkspace('starting', { generation });
        return launchRequest({ workspace, clientToken: `${workspace.workspaceId}-${generation}`, tags: workspaceTags(workspace, 'prod') });
      });

      // Act
      await Promise.all(requests.slice(0, 3).map((request) => compute.launch(request)));
      for (const request of requests.slice(3)) await compute.launch(request);

      // Assess
      assert.equal(registerInputs().length, 1);
      assert.equal(runInputs().length, 5);
      assert.equal(new Set(runInputs().map((input) => input.taskDefinition)).size, 1);
      const describes = inputs<DescribeTaskDefinitionCommandInput>(DescribeTaskDefinitionCommand).map((input) => input.taskDefinition);
      assert.deepEqual(describes, [BASE_ARN, compute.familyOf(requests[0]!.workspace)], 'the base and the family are read once');
    });

    it('finds the registered task definition again after a cold start, without registering', async () => {
      // Prepare
      fakeEcs();
      await fargate().launch(launchRequest());
      ecs.resetHistory();
      const cold = fargate();

      // Act
      await cold.launch(launchRequest());

      // Assess
      assert.equal(registerInputs().length, 0);
      assert.deepEqual(
        inputs<DescribeTaskDefinitionCommandInput>(DescribeTaskDefinitionCommand),
        [{ taskDefinition: BASE_ARN }, { taskDefinition: cold.familyOf(launchRequest().workspace), include: ['TAGS'] }],
      );
    });

    it('registers a new revision when the base task definition changed (a new image was deployed)', async () => {
      // Prepare
      const newBase = `arn:aws:ecs:${REGION_ACCOUNT}:task-definition/carrel-prod-workspace:8`;
      fakeEcs();
      await fargate().launch(launchRequest());
      ecs.reset();
      const { families } = fakeEcs({ base: baseDefinition(newBase) });
      const family = fargate().familyOf(launchRequest().workspace);
      families.set(family, [
        {
          definition: { ...baseDefinition(), taskDefinitionArn: `arn:aws:ecs:${REGION_ACCOUNT}:task-definition/${family}:1`, volumes: [{ name: 'home', efsVolumeConfiguration: { fileSystemId: FS, authorizationConfig: { accessPointId: AP } } }] },
          tags: [{ key: 'carrel:base-task-definition', value: BASE_ARN }],
        },
      ]);

      // Act
      await fargate({ taskDefinitionArn: newBase }).launch(launchRequest());

      // Assess
      assert.equal(registerInputs().length, 1);
      assert.deepEqual(registerInputs()[0]?.tags?.at(-1), { key: 'carrel:base-task-definition', value: newBase });
      assert.equal(runInputs()[0]?.taskDefinition, `arn:aws:ecs:${REGION_ACCOUNT}:task-definition/${family}:2`);
    });

    it('registers a new revision when the workspace’s home is another access point', async () => {
      // Prepare
      fakeEcs();
      const compute = fargate();
      await compute.launch(launchRequest());

      // Act
      await compute.launch(launchRequest({ home: { homeId: 'fsap-0bbbbbbbbbbbbbbbb', created: true } }));

      // Assess
      assert.deepEqual(
        registerInputs().map((input) => input.volumes?.[0]?.efsVolumeConfiguration?.authorizationConfig?.accessPointId),
        [AP, 'fsap-0bbbbbbbbbbbbbbbb'],
      );
    });

    it('runs one task however often the same launch is retried', async () => {
      // Prepare
      const { tasksByToken } = fakeEcs();
      const request = launchRequest();

      // Act
      const first = await fargate().launch(request);
      const second = await fargate().launch(request);

      // Assess
      assert.deepEqual(second, first);
      assert.equal(tasksByToken.size, 1);
      assert.deepEqual(
        runInputs().map((input) => input.clientToken),
        ['wsalice0000000000000-2.0', 'wsalice0000000000000-2.0'],
      );
    });

    it('returns the task a token already started when ECS reports a conflict', async () => {
      // Prepare
      fakeEcs();
      const existing = `arn:aws:ecs:${REGION_ACCOUNT}:task/carrel-prod/earlier`;
      ecs.on(RunTaskCommand).rejects(new ConflictException({ message: 'clientToken in use', resourceIds: [existing], $metadata: { httpStatusCode: 400 } }));

      // Act
      const launched = await fargate().launch(launchRequest());

      // Assess
      assert.deepEqual(launched, { instanceId: existing });
    });

    it('moves to the next subnet when a zone has no Fargate capacity', async () => {
      // Prepare
      fakeEcs({
        failures: (input) =>
          input.networkConfiguration?.awsvpcConfiguration?.subnets?.[0] === 'subnet-a'
            ? [{ reason: 'Capacity is unavailable at this time. Please try again later or in a different availability zone' }]
            : undefined,
      });

      // Act
      const launched = await fargate().launch(launchRequest());

      // Assess
      assert.match(launched.instanceId, /task\/carrel-prod\//);
      assert.deepEqual(
        runInputs().map((input) => [input.networkConfiguration?.awsvpcConfiguration?.subnets, input.clientToken]),
        [
          [['subnet-a'], 'wsalice0000000000000-2.0'],
          [['subnet-b'], 'wsalice0000000000000-2.1'],
        ],
      );
    });

    it('tells the researcher there is no capacity when every subnet lacks it', async () => {
      // Prepare
      fakeEcs({ failures: () => [{ reason: 'Capacity is unavailable at this time. Please try again later or in a different availability zone' }] });

      // Act
      const launching = fargate().launch(launchRequest());

      // Assess
      await assert.rejects(launching, (error) => {
        assert.ok(error instanceof NoCapacityError && error instanceof TransientError);
        assert.equal(error.message, 'There is no capacity for small workspaces right now (tried 2 subnets). Please try again in a few minutes.');
        return true;
      });
      assert.equal(runInputs().length, 2);
    });

    it('maps a RESOURCE:ENI failure to TransientError and other failures to ComputeError, without trying other subnets', async () => {
      // Prepare
      fakeEcs({ failures: (input) => [{ reason: input.clientToken?.startsWith('eni') ? 'RESOURCE:ENI' : 'MISSING', detail: 'detail' }] });

      // Act
      const eni = fargate().launch(launchRequest({ clientToken: 'eni-1' }));
      const missing = fargate().launch(launchRequest({ clientToken: 'other-1' }));

      // Assess
      await assert.rejects(eni, (error) => error instanceof TransientError && /RESOURCE:ENI: detail/.test(error.message));
      await assert.rejects(missing, (error) => error instanceof ComputeError && error.message === 'Starting the workspace task failed: MISSING: detail');
      assert.equal(runInputs().length, 2);
    });

    const transient: Array<[string, () => Error]> = [
      ['ThrottlingException', () => throttling(ECSServiceException)],
      ['ServerException (500)', () => new ServerException({ message: 'internal', $metadata: { httpStatusCode: 500 } })],
      ['a 503', () => serviceUnavailable(ECSServiceException, 'ServiceUnavailableException')],
      ['a client-side timeout', timeoutError],
      ['a reset connection', connectionReset],
    ];
    for (const [what, make] of transient) {
      it(`maps ${what} from RunTask to TransientError with the cause`, async () => {
        // Prepare
        fakeEcs();
        const cause = make();
        ecs.on(RunTaskCommand).rejects(cause);

        // Act
        const launching = fargate().launch(launchRequest());

        // Assess
        await assert.rejects(launching, (error) => error instanceof TransientError && error.cause === cause);
        assert.equal(runInputs().length, 1);
      });
    }

    it('maps a throttled registration to TransientError and registers on the next launch', async () => {
      // Prepare
      fakeEcs();
      const compute = fargate();
      ecs.on(RegisterTaskDefinitionCommand).rejectsOnce(throttling(ECSServiceException));
      await assert.rejects(compute.launch(launchRequest()), TransientError);
      fakeEcs();

      // Act
      await compute.launch(launchRequest());

      // Assess
      assert.equal(registerInputs().length, 2);
      assert.equal(runInputs().length, 1);
    });

    const permanent: Array<[string, () => Error, RegExp]> = [
      [
        'AccessDeniedException',
        () => new AccessDeniedException({ message: 'not authorized to perform: iam:PassRole', $metadata: { httpStatusCode: 400 } }),
        /^Starting the workspace task in subnet-a failed: AccessDeniedException: not authorized to perform: iam:PassRole$/,
      ],
      [
        'InvalidParameterException',
        () => new InvalidParameterException({ message: 'Task definition does not support launch_type FARGATE.', $metadata: { httpStatusCode: 400 } }),
        /failed: InvalidParameterException: Task definition does not support/,
      ],
      [
        'ClusterNotFoundException',
        () => new ClusterNotFoundException({ message: 'Cluster not found.', $metadata: { httpStatusCode: 400 } }),
        /failed: ClusterNotFoundException: Cluster not found\.$/,
      ],
    ];
    for (const [what, make, message] of permanent) {
      it(`maps ${what} from RunTask to a ComputeError naming what failed`, async () => {
        // Prepare
        fakeEcs();
        ecs.on(RunTaskCommand).rejects(make());

        // Act
        const launching = fargate().launch(launchRequest());

        // Assess
        await assert.rejects(launching, (error) => error instanceof ComputeError && !(error instanceof TransientError) && message.test(error.message));
      });
    }

    describe('the home task role', () => {
      const notAssumable = () =>
        new ClientException({
          message: `ECS was unable to assume the role '${HOME_ROLE}' that was provided for this task. Please verify that the role being passed has the proper trust relationship and permissions and that your IAM user has permissions to pass this role.`,
          $metadata: { httpStatusCode: 400 },
        });

      it('creates the home’s role once, however many launches and cold starts, and runs every task with it', async () => {
        // Prepare
        fakeEcs();

        // Act
        await fargate().launch(launchRequest());
        await fargate().launch(launchRequest());
        const warm = fargate();
        await warm.launch(launchRequest());
        await warm.launch(launchRequest());

        // Assess
        assert.equal(iam.commandCalls(CreateRoleCommand).length, 1);
        assert.equal(iam.commandCalls(PutRolePolicyCommand).length, 1);
        assert.deepEqual(registerInputs().map((input) => input.taskRoleArn), [HOME_ROLE]);
      });

      it('replaces a revision that still runs with the deployment’s shared task role', async () => {
        // Prepare
        const { families } = fakeEcs();
        const family = fargate().familyOf(launchRequest().workspace);
        families.set(family, [
          {
            definition: {
              ...baseDefinition(),
              taskDefinitionArn: `arn:aws:ecs:${REGION_ACCOUNT}:task-definition/${family}:1`,
              volumes: [{ name: 'home', efsVolumeConfiguration: { fileSystemId: FS, authorizationConfig: { accessPointId: AP } } }],
            },
            tags: [{ key: 'carrel:base-task-definition', value: BASE_ARN }],
          },
        ]);

        // Act
        await fargate().launch(launchRequest());

        // Assess
        assert.deepEqual(registerInputs().map((input) => input.taskRoleArn), [HOME_ROLE]);
        assert.equal(runInputs()[0]?.taskDefinition, `arn:aws:ecs:${REGION_ACCOUNT}:task-definition/${family}:2`);
      });

      it('retries RunTask with the same token while ECS cannot assume the new role yet, then runs the task', async () => {
        // Prepare
        let refusals = 2;
        const { tasks } = fakeEcs({ refuse: () => (refusals-- > 0 ? notAssumable() : undefined) });
        const waits: number[] = [];
        const compute = fargate({ sleep: (ms) => (waits.push(ms), Promise.resolve()) });

        // Act
        const launched = await compute.launch(launchRequest());

        // Assess
        assert.equal(launched.instanceId, [...tasks.keys()][0]);
        assert.equal(tasks.size, 1);
        assert.deepEqual(waits, [1000, 2000]);
        assert.equal(runInputs().length, 3);
        assert.equal(new Set(runInputs().map((input) => input.clientToken)).size, 1, 'every attempt sends the same client token');
      });

      it('gives up as transient after the bounded retries', async () => {
        // Prepare
        fakeEcs();
        const waits: number[] = [];
        ecs.on(RunTaskCommand).rejects(notAssumable());

        // Act
        const launching = fargate({ sleep: (ms) => (waits.push(ms), Promise.resolve()) }).launch(launchRequest());

        // Assess
        await assert.rejects(launching, (error) => error instanceof TransientError && /task role is not usable yet/.test(error.message));
        assert.deepEqual(waits, [1000, 2000, 4000, 4000]);
        assert.equal(runInputs().length, 5);
      });

      it('does not retry a refused role that is not new: that is a configuration problem', async () => {
        // Prepare
        iam.reset();
        fakeIam(new Date(Date.now() - 3600_000));
        fakeEcs();
        ecs.on(RunTaskCommand).rejects(notAssumable());

        // Act
        const launching = fargate().launch(launchRequest());

        // Assess
        await assert.rejects(launching, (error) => error instanceof ComputeError && !(error instanceof TransientError) && /unable to assume the role/.test(error.message));
        assert.equal(runInputs().length, 1);
      });

      it('registers and runs nothing when IAM refuses to create the role', async () => {
        // Prepare
        fakeEcs();
        iam.on(CreateRoleCommand).rejects(
          Object.assign(new Error('User is not authorized to perform: iam:CreateRole'), { name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 } }),
        );

        // Act
        const launching = fargate().launch(launchRequest());

        // Assess
        await assert.rejects(launching, (error) => error instanceof ComputeError && /Creating the home task role carrel-prod-home-[0-9a-f]{16} failed/.test(error.message));
        assert.equal(registerInputs().length, 0);
        assert.equal(runInputs().length, 0);
      });
    });

    it('refuses a base task definition without a home volume', async () => {
      // Prepare
      fakeEcs({ base: { ...baseDefinition(), volumes: [{ name: 'scratch' }] } });

      // Act
      const launching = fargate().launch(launchRequest());

      // Assess
      await assert.rejects(launching, (error) => error instanceof ComputeError && /has no volume named "home"/.test(error.message));
      assert.equal(runInputs().length, 0);
    });

    it('refuses a size without Fargate cpu and memory', async () => {
      // Prepare
      fakeEcs();
      const workspace = makeWorkspace('starting', { size: 'ec2only' });

      // Act
      const launching = fargate().launch(launchRequest({ workspace }));

      // Assess
      await assert.rejects(launching, (error) => error instanceof ComputeError && /size "ec2only" has no Fargate cpu and memoryMiB/.test(error.message));
    });

    it('keeps client tokens within 64 characters and startedBy within 36', async () => {
      // Prepare
      fakeEcs();
      const long = 'x'.repeat(80);
      const compute = fargate({ deploymentId: 'a-deployment-name-that-is-rather-long' });

      // Act
      await compute.launch(launchRequest({ clientToken: long }));

      // Assess
      const input = runInputs()[0]!;
      assert.ok(input.clientToken!.length <= 64);
      assert.match(input.clientToken!, /^[0-9a-f]+\.0$/);
      assert.ok(input.startedBy!.length <= 36);
      assert.equal(input.startedBy, startedByFor('a-deployment-name-that-is-rather-long'));
      assert.equal(startedByFor('prod'), 'carrel-prod');
      assert.equal(startedByFor('prod.eu-west-2'), 'carrel-prod-eu-west-2');
    });
  });

  describe('start', () => {
    it('runs a replacement task with the same home and the record’s generation, and returns its ARN', async () => {
      // Prepare
      const { tasks } = fakeEcs();
      const compute = fargate();
      const { instanceId: old } = await compute.launch(launchRequest());
      tasks.set(old, { ...tasks.get(old), lastStatus: 'STOPPED', desiredStatus: 'STOPPED' });
      const resumed = makeWorkspace('starting', { generation: 3, instanceId: old, resumed: true });
      ecs.resetHistory();

      // Act
      const started = await compute.start(old, resumed);

      // Assess
      assert.ok(started && started.instanceId !== old);
      assert.equal(registerInputs().length, 0);
      assert.deepEqual(inputs(DescribeTasksCommand), [{ cluster: CLUSTER, tasks: [old], include: ['TAGS'] }]);
      const run = runInputs();
      assert.equal(run.length, 1);
      assert.equal(run[0]?.clientToken, 'wsalice0000000000000-resume-3.0');
      assert.deepEqual(run[0]?.tags, [
        { key: 'carrel:deployment', value: 'prod' },
        { key: 'carrel:analysis', value: 'demo' },
        { key: 'carrel:user', value: 'alice' },
        { key: 'carrel:workspace', value: 'wsalice0000000000000' },
        { key: 'carrel:generation', value: '3' },
        { key: 'carrel:home', value: AP },
      ]);
    });

    it('resumes on a cold container after ECS has forgotten the stopped task, from the home’s task definition', async () => {
      // Prepare
      const { tasks } = fakeEcs();
      const { instanceId: old } = await fargate().launch(launchRequest());
      tasks.delete(old);
      ecs.resetHistory();
      const cold = fargate();

      // Act
      const started = await cold.start(old, makeWorkspace('starting', { generation: 3, instanceId: old }));

      // Assess
      assert.ok(started);
      assert.equal(registerInputs().length, 0);
      assert.equal(runInputs()[0]?.taskDefinition, `arn:aws:ecs:${REGION_ACCOUNT}:task-definition/${cold.familyOf(launchRequest().workspace)}:1`);
      assert.deepEqual(runInputs()[0]?.tags?.at(-1), { key: 'carrel:home', value: AP });
    });

    it('runs the same replacement when a resume is retried', async () => {
      // Prepare
      const { tasks } = fakeEcs();
      const compute = fargate();
      const { instanceId: old } = await compute.launch(launchRequest());
      tasks.set(old, { ...tasks.get(old), lastStatus: 'STOPPED', desiredStatus: 'STOPPED' });
      const resumed = makeWorkspace('starting', { generation: 3, instanceId: old });

      // Act
      const first = await compute.start(old, resumed);
      const second = await fargate().start(old, resumed);

      // Assess
      assert.deepEqual(second, first);
    });

    it('fails clearly when neither the task nor the home’s task definition is known any more', async () => {
      // Prepare
      fakeEcs();

      // Act
      const starting = fargate().start('arn:aws:ecs:eu-west-2:123456789012:task/carrel-prod/gone', makeWorkspace('starting', { generation: 3 }));

      // Assess
      await assert.rejects(starting, (error) => error instanceof ComputeError && /home of this workspace could not be found/.test(error.message));
      assert.equal(runInputs().length, 0);
    });

    it('leaves a task that is still meant to run alone', async () => {
      // Prepare
      fakeEcs();
      const compute = fargate();
      const { instanceId } = await compute.launch(launchRequest());
      ecs.resetHistory();

      // Act
      const started = await compute.start(instanceId, makeWorkspace('starting', { generation: 3, instanceId }));

      // Assess
      assert.equal(started, undefined);
      assert.equal(runInputs().length, 0);
    });

    it('maps a throttled task lookup to TransientError', async () => {
      // Prepare
      fakeEcs();
      ecs.on(DescribeTasksCommand).rejects(throttling(ECSServiceException));

      // Act
      const starting = fargate().start('arn:task', makeWorkspace('starting', { generation: 3 }));

      // Assess
      await assert.rejects(starting, TransientError);
    });
  });

  describe('stop and terminate', () => {
    it('stop and terminate both stop the task, with reasons the event mapping tells apart', async () => {
      // Prepare
      ecs.on(StopTaskCommand).resolves({ task: { lastStatus: 'RUNNING', desiredStatus: 'STOPPED' } });
      const compute = fargate();

      // Act
      await compute.stop('arn:task-1');
      await compute.terminate('arn:task-2');

      // Assess
      assert.deepEqual(inputs(StopTaskCommand), [
        { cluster: CLUSTER, task: 'arn:task-1', reason: 'Stopped by carrel' },
        { cluster: CLUSTER, task: 'arn:task-2', reason: 'Terminated by carrel' },
      ]);
    });

    it('does nothing for a task ECS no longer knows', async () => {
      // Prepare
      ecs.on(StopTaskCommand).rejects(new InvalidParameterException({ message: 'The referenced task was not found.', $metadata: { httpStatusCode: 400 } }));
      const compute = fargate();

      // Act / Assess
      await compute.stop('arn:gone');
      await compute.terminate('arn:gone');
    });

    it('maps throttling to TransientError and other refusals to ComputeError', async () => {
      // Prepare
      ecs.on(StopTaskCommand, { task: 'arn:throttled' }).rejects(throttling(ECSServiceException));
      ecs.on(StopTaskCommand, { task: 'arn:denied' }).rejects(serviceError(ECSServiceException, 'AccessDeniedException', 400, 'not authorized'));
      const compute = fargate();

      // Act
      const results = await Promise.allSettled([compute.stop('arn:throttled'), compute.terminate('arn:denied')]);

      // Assess
      assert.ok(results[0].status === 'rejected' && results[0].reason instanceof TransientError);
      assert.ok(results[1].status === 'rejected' && results[1].reason instanceof ComputeError);
    });
  });

  describe('listTagged', () => {
    it('lists running and stopped tasks of the deployment, every page, with core states and tags', async () => {
      // Prepare
      const arn = (n: number) => `arn:aws:ecs:${REGION_ACCOUNT}:task/carrel-prod/${n}`;
      const running = Array.from({ length: 120 }, (_, i) => arn(i));
      ecs
        .on(ListTasksCommand, { desiredStatus: 'RUNNING' })
        .resolvesOnce({ taskArns: running.slice(0, 100), nextToken: 'more' })
        .resolvesOnce({ taskArns: running.slice(100) });
      ecs.on(ListTasksCommand, { desiredStatus: 'STOPPED' }).resolves({ taskArns: [arn(200), arn(5)] });
      const statuses: Record<number, Pick<Task, 'lastStatus' | 'desiredStatus'>> = {
        0: { lastStatus: 'PROVISIONING', desiredStatus: 'RUNNING' },
        1: { lastStatus: 'RUNNING', desiredStatus: 'RUNNING' },
        2: { lastStatus: 'RUNNING', desiredStatus: 'STOPPED' },
        3: { lastStatus: 'DEPROVISIONING', desiredStatus: 'STOPPED' },
        200: { lastStatus: 'STOPPED', desiredStatus: 'STOPPED' },
      };
      ecs.on(DescribeTasksCommand).callsFake((input: { tasks: string[] }) => ({
        tasks: input.tasks.map((taskArn) => {
          const n = Number(taskArn.split('/').pop());
          return {
            taskArn,
            ...(statuses[n] ?? { lastStatus: 'RUNNING', desiredStatus: 'RUNNING' }),
            tags: [
              { key: 'carrel:deployment', value: n === 119 ? 'other' : 'prod' },
              { key: 'carrel:workspace', value: `w${n}` },
            ],
          };
        }),
      }));

      // Act
      const views = await fargate().listTagged();

      // Assess
      const list = inputs<Record<string, unknown>>(ListTasksCommand);
      assert.deepEqual(list, [
        { cluster: CLUSTER, startedBy: 'carrel-prod', desiredStatus: 'RUNNING', maxResults: 100, nextToken: undefined },
        { cluster: CLUSTER, startedBy: 'carrel-prod', desiredStatus: 'RUNNING', maxResults: 100, nextToken: 'more' },
        { cluster: CLUSTER, startedBy: 'carrel-prod', desiredStatus: 'STOPPED', maxResults: 100, nextToken: undefined },
      ]);
      const described = inputs<{ tasks: string[]; include: string[]; cluster: string }>(DescribeTasksCommand);
      assert.deepEqual(
        described.map((input) => [input.cluster, input.tasks.length, input.include]),
        [
          [CLUSTER, 100, ['TAGS']],
          [CLUSTER, 21, ['TAGS']],
        ],
      );
      assert.equal(views.length, 120, 'each task once, none of another deployment');
      const byId = new Map(views.map((view) => [view.instanceId, view]));
      assert.deepEqual(byId.get(arn(0)), { instanceId: arn(0), state: 'pending', tags: { 'carrel:deployment': 'prod', 'carrel:workspace': 'w0' } });
      assert.equal(byId.get(arn(1))?.state, 'running');
      assert.equal(byId.get(arn(2))?.state, 'stopping');
      assert.equal(byId.get(arn(3))?.state, 'stopping');
      assert.equal(byId.get(arn(200))?.state, 'terminated');
      assert.equal(byId.has(arn(119)), false);
    });

    it('maps a throttled listing to TransientError', async () => {
      // Prepare
      ecs.on(ListTasksCommand).rejects(throttling(ECSServiceException));

      // Act
      const listing = fargate().listTagged();

      // Assess
      await assert.rejects(listing, (error) => error instanceof TransientError && /^Listing workspace tasks failed for now/.test(error.message));
    });
  });
});
