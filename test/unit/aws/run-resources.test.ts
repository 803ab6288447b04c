import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import {
  ConcurrentModificationException,
  CreateRoleCommand,
  DeleteConflictException,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  EntityAlreadyExistsException,
  GetRoleCommand,
  IAMClient,
  IAMServiceException,
  LimitExceededException,
  ListRolePoliciesCommand,
  NoSuchEntityException,
  PutRolePolicyCommand,
  ServiceFailureException,
  type PutRolePolicyCommandInput,
} from '@aws-sdk/client-iam';
import {
  ClientException,
  DeleteTaskDefinitionsCommand,
  DeregisterTaskDefinitionCommand,
  ECSClient,
  ECSServiceException,
  ListTaskDefinitionsCommand,
  type ListTaskDefinitionsCommandInput,
} from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { TransientError } from '../../../lambdas/core/errors.js';
import type { Log } from '../../../lambdas/core/ports.js';
import { newRunId } from '../../../lambdas/core/runs/lifecycle.js';
import type { Run } from '../../../lambdas/core/runs/run.js';
import {
  AwsRunResources,
  RUN_ROLE_POLICY,
  RunResourcesError,
  runLocationOf,
  runRoleName,
  type RunResourcesOptions,
} from '../../../lambdas/adapters/aws/run-resources.js';
import { ECS_TASKS_TRUST, fakeIamRoles } from '../../support/fake-iam.js';
import { connectionReset, internalError, serviceError, throttling, timeoutError } from './sdk-errors.js';

const iamClient = new IAMClient({ region: 'eu-west-2', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const ecsClient = new ECSClient({ region: 'eu-west-2', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const iam = mockClient(iamClient);
const ecs = mockClient(ecsClient);
const silent: Log = { info() {}, warn() {}, error() {} };

const RUN_ID = 'r20261123t203446z-abcdefghij';
const KEY = { analysisId: 'demo', runId: RUN_ID };
const RUN = { ...KEY, state: 'building' } as Run;
const ROLE = `carrel-prod-run-${RUN_ID}`;
const BOUNDARY = 'arn:aws:iam::123456789012:policy/carrel/prod/carrel-prod-enclave-run-boundary';
const KEY_ARN = 'arn:aws:kms:eu-west-2:123456789012:key/0000-enclave';
const FAMILY = `carrel-prod-enclave-run-${RUN_ID}`;
const taskDefinition = (family: string, revision: number) => `arn:aws:ecs:eu-west-2:123456789012:task-definition/${family}:${revision}`;

const options = (extra: Partial<RunResourcesOptions> = {}): RunResourcesOptions => ({
  deploymentId: 'prod',
  location: runLocationOf(KEY_ARN),
  outputsBucket: 'carrel-prod-outputs',
  enclaveKeyArn: KEY_ARN,
  dataset: { bucketArn: 'arn:aws:s3:::research-data', prefix: 'cohort/' },
  taskFamily: 'carrel-prod-enclave-run',
  log: silent,
  ...extra,
});
const resources = (extra: Partial<RunResourcesOptions> = {}) => new AwsRunResources(iamClient, ecsClient, options(extra));

/** ECS task definitions by status, as ListTaskDefinitions/Deregister/Delete change them. */
function fakeEcs(initial: Record<string, 'ACTIVE' | 'INACTIVE'>) {
  const status = new Map(Object.entries(initial) as [string, string][]);
  ecs.on(ListTaskDefinitionsCommand).callsFake((input: ListTaskDefinitionsCommandInput) => ({
    taskDefinitionArns: [...status].filter(([arn, s]) => s === (input.status ?? 'ACTIVE') && arn.includes(`/${input.familyPrefix}`)).map(([arn]) => arn),
  }));
  ecs.on(DeregisterTaskDefinitionCommand).callsFake((input: { taskDefinition: string }) => {
    status.set(input.taskDefinition, 'INACTIVE');
    return {};
  });
  ecs.on(DeleteTaskDefinitionsCommand).callsFake((input: { taskDefinitions: string[] }) => {
    for (const arn of input.taskDefinitions) status.set(arn, 'DELETE_IN_PROGRESS');
    return { failures: [] };
  });
  return status;
}

describe('AwsRunResources', () => {
  afterEach(() => {
    iam.reset();
    ecs.reset();
  });

  it('names a run role from the deployment and run id, within 64 characters for the longest deployment id, and refuses a longer one', () => {
    // Prepare
    const longestDeployment = 'a'.repeat(24);
    const runId = newRunId(new Date('2026-11-23T20:34:46.123Z'));
    // Act
    const name = runRoleName(longestDeployment, runId);
    // Assess
    assert.equal(runId.length, 28);
    assert.equal(name.length, 64);
    assert.equal(runRoleName('prod', RUN_ID), ROLE);
    assert.throws(() => runRoleName(longestDeployment, `${runId}x`), (e: unknown) => e instanceof RunResourcesError && /at most 64/.test(e.message));
    assert.throws(() => runLocationOf('not-an-arn'), RunResourcesError);
  });

  it("creates the run's role on the runs path with the boundary, a scoped trust policy and the run's tags, then lets it write only the run's outputs", async () => {
    // Prepare
    fakeIamRoles(iam);
    // Act
    await resources().prepare(RUN);
    // Assess
    const create = iam.commandCalls(CreateRoleCommand)[0]!.args[0].input;
    assert.deepEqual({ ...create, AssumeRolePolicyDocument: JSON.parse(create.AssumeRolePolicyDocument!) }, {
      RoleName: ROLE,
      Path: '/carrel/prod/runs/',
      AssumeRolePolicyDocument: ECS_TASKS_TRUST,
      PermissionsBoundary: BOUNDARY,
      Description: `carrel prod: the enclave task of run ${RUN_ID} of demo; writes only that run's outputs`,
      MaxSessionDuration: 3600,
      Tags: [
        { Key: 'carrel:deployment', Value: 'prod' },
        { Key: 'carrel:analysis', Value: 'demo' },
        { Key: 'carrel:run', Value: RUN_ID },
      ],
    });
    const put = iam.commandCalls(PutRolePolicyCommand)[0]!.args[0].input as PutRolePolicyCommandInput;
    assert.deepEqual({ ...put, PolicyDocument: JSON.parse(put.PolicyDocument!) }, {
      RoleName: ROLE,
      PolicyName: RUN_ROLE_POLICY,
      PolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          { Sid: 'DatasetRead', Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::research-data/cohort/*' },
          { Sid: 'DatasetList', Effect: 'Allow', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::research-data', Condition: { StringLike: { 's3:prefix': ['cohort/*'] } } },
          { Sid: 'OutputsWrite', Effect: 'Allow', Action: 's3:PutObject', Resource: `arn:aws:s3:::carrel-prod-outputs/runs/demo/${RUN_ID}/*` },
          { Sid: 'OutputsEncrypt', Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: KEY_ARN },
        ],
      },
    });
    assert.equal(resources().roleArn(KEY), `arn:aws:iam::123456789012:role/carrel/prod/runs/${ROLE}`);
  });

  it('adds kms:Decrypt on the dataset key when the dataset has one, and lists the whole bucket without a prefix', async () => {
    // Prepare
    fakeIamRoles(iam);
    // Act
    await resources({ dataset: { bucketArn: 'arn:aws:s3:::research-data', prefix: '', kmsKeyArn: 'arn:aws:kms:eu-west-2:123456789012:key/data' } }).prepare(RUN);
    // Assess
    const policy = JSON.parse((iam.commandCalls(PutRolePolicyCommand)[0]!.args[0].input as PutRolePolicyCommandInput).PolicyDocument!);
    assert.deepEqual(policy.Statement.find((s: { Sid: string }) => s.Sid === 'DatasetDecrypt'), { Sid: 'DatasetDecrypt', Effect: 'Allow', Action: 'kms:Decrypt', Resource: 'arn:aws:kms:eu-west-2:123456789012:key/data' });
    assert.equal(policy.Statement.find((s: { Sid: string }) => s.Sid === 'DatasetList').Condition, undefined);
  });

  it('prepares twice → one role: the second finds it, checks it is this run’s, and puts the policy again', async () => {
    // Prepare
    const roles = fakeIamRoles(iam);
    await resources().prepare(RUN);
    // Act
    await resources().prepare(RUN);
    // Assess
    assert.equal(roles.size, 1);
    assert.deepEqual(iam.commandCalls(GetRoleCommand).map((call) => call.args[0].input), [{ RoleName: ROLE }]);
    assert.equal(iam.commandCalls(PutRolePolicyCommand).length, 2);
  });

  for (const [what, role] of [
    ['on another path', { Path: '/', PermissionsBoundary: { PermissionsBoundaryArn: BOUNDARY }, Tags: [{ Key: 'carrel:deployment', Value: 'prod' }, { Key: 'carrel:analysis', Value: 'demo' }, { Key: 'carrel:run', Value: RUN_ID }] }],
    ['without the boundary', { Path: '/carrel/prod/runs/', Tags: [{ Key: 'carrel:deployment', Value: 'prod' }, { Key: 'carrel:analysis', Value: 'demo' }, { Key: 'carrel:run', Value: RUN_ID }] }],
    ["of another analysis's run", { Path: '/carrel/prod/runs/', PermissionsBoundary: { PermissionsBoundaryArn: BOUNDARY }, Tags: [{ Key: 'carrel:deployment', Value: 'prod' }, { Key: 'carrel:analysis', Value: 'other' }, { Key: 'carrel:run', Value: RUN_ID }] }],
  ] as const) {
    it(`refuses an existing role of that name ${what}, and gives it no policy`, async () => {
      // Prepare
      iam.on(CreateRoleCommand).rejects(new EntityAlreadyExistsException({ message: 'exists', $metadata: { httpStatusCode: 409 } }));
      iam.on(GetRoleCommand).resolves({ Role: { RoleName: ROLE, RoleId: 'AROAX', Arn: `arn:aws:iam::123456789012:role${role.Path}${ROLE}`, CreateDate: new Date(), ...role, Tags: [...role.Tags] } });
      // Act
      const preparing = resources().prepare(RUN);
      // Assess
      await assert.rejects(preparing, (e: unknown) => e instanceof RunResourcesError && /is not a run task role of this deployment/.test(e.message));
      assert.equal(iam.commandCalls(PutRolePolicyCommand).length, 0);
    });
  }

  const transient: Array<[string, () => Error]> = [
    ['throttling', () => throttling(IAMServiceException, 'Throttling')],
    ['ServiceFailure (500)', () => new ServiceFailureException({ message: 'internal', $metadata: { httpStatusCode: 500 } })],
    ['a timeout', timeoutError],
    ['a reset connection', connectionReset],
    ['a concurrent modification', () => new ConcurrentModificationException({ message: 'Rate of modifications to the role is too high', $metadata: { httpStatusCode: 409 } })],
  ];
  for (const [what, make] of transient) {
    it(`maps ${what} from CreateRole to TransientError (the state machine retries it)`, async () => {
      // Prepare
      iam.on(CreateRoleCommand).rejects(make());
      // Act / Assess
      await assert.rejects(resources().prepare(RUN), (e: unknown) => e instanceof TransientError && /Creating the run task role/.test(e.message));
    });
  }

  it("maps IAM's LimitExceeded (the account's role quota) to a RunResourcesError that says where leftovers are listed", async () => {
    // Prepare
    iam.on(CreateRoleCommand).rejects(new LimitExceededException({ message: 'Cannot exceed quota for RolesPerAccount: 1000', $metadata: { httpStatusCode: 409 } }));
    // Act / Assess
    await assert.rejects(resources().prepare(RUN), (e: unknown) => e instanceof RunResourcesError && !(e instanceof TransientError) && /quota is reached.*admin -- resources/.test(e.message));
  });

  it('maps a refused PutRolePolicy (e.g. without the boundary grant) to a RunResourcesError naming the role', async () => {
    // Prepare
    fakeIamRoles(iam);
    iam.on(PutRolePolicyCommand).rejects(serviceError(IAMServiceException, 'AccessDenied', 403, 'not authorized to perform: iam:PutRolePolicy'));
    // Act / Assess
    await assert.rejects(resources().prepare(RUN), (e: unknown) => e instanceof RunResourcesError && e.message.includes(`Letting the run task role ${ROLE} read the dataset and write its outputs failed`));
  });

  it("cleans up: the role's policies, then the role, then every revision of the run's family (deregistered, then deleted); only that family", async () => {
    // Prepare
    const roles = fakeIamRoles(iam);
    await resources().prepare(RUN);
    const other = `${FAMILY}0`; // a longer family with the same prefix is not this run's
    const status = fakeEcs({ [taskDefinition(FAMILY, 1)]: 'ACTIVE', [taskDefinition(FAMILY, 2)]: 'INACTIVE', [taskDefinition(other, 1)]: 'ACTIVE' });
    // Act
    const removed = await resources().cleanUp(KEY);
    // Assess
    assert.equal(roles.size, 0);
    assert.deepEqual(iam.commandCalls(DeleteRolePolicyCommand).map((c) => c.args[0].input), [{ RoleName: ROLE, PolicyName: RUN_ROLE_POLICY }]);
    assert.deepEqual(ecs.commandCalls(ListTaskDefinitionsCommand).map((c) => [c.args[0].input.familyPrefix, c.args[0].input.status]), [[FAMILY, 'ACTIVE'], [FAMILY, 'INACTIVE']]);
    assert.deepEqual(ecs.commandCalls(DeregisterTaskDefinitionCommand).map((c) => c.args[0].input.taskDefinition), [taskDefinition(FAMILY, 1)]);
    assert.deepEqual(ecs.commandCalls(DeleteTaskDefinitionsCommand).map((c) => c.args[0].input.taskDefinitions), [[taskDefinition(FAMILY, 1), taskDefinition(FAMILY, 2)]]);
    assert.equal(status.get(taskDefinition(other, 1)), 'ACTIVE');
    assert.deepEqual(removed, [`role ${ROLE}`, `task definition ${taskDefinition(FAMILY, 1)}`, `task definition ${taskDefinition(FAMILY, 2)}`]);
  });

  it('cleans up twice, or a run that never had anything: what is gone is done', async () => {
    // Prepare
    fakeIamRoles(iam);
    fakeEcs({});
    // Act
    const first = await resources().cleanUp(KEY);
    const second = await resources().cleanUp(KEY);
    // Assess
    assert.deepEqual([first, second], [[], []]);
    assert.equal(iam.commandCalls(DeleteRoleCommand).length, 0);
    assert.equal(ecs.commandCalls(DeleteTaskDefinitionsCommand).length, 0);
  });

  it('takes a policy or role deleted meanwhile (NoSuchEntity) as deleted', async () => {
    // Prepare
    iam.on(ListRolePoliciesCommand).resolves({ PolicyNames: [RUN_ROLE_POLICY], IsTruncated: false });
    iam.on(DeleteRolePolicyCommand).rejects(new NoSuchEntityException({ message: 'gone', $metadata: { httpStatusCode: 404 } }));
    iam.on(DeleteRoleCommand).rejects(new NoSuchEntityException({ message: 'gone', $metadata: { httpStatusCode: 404 } }));
    fakeEcs({});
    // Act / Assess
    assert.deepEqual(await resources().cleanUp(KEY), []);
  });

  it('deletes many revisions in batches of ten (DeleteTaskDefinitions’ limit)', async () => {
    // Prepare
    fakeIamRoles(iam);
    fakeEcs(Object.fromEntries(Array.from({ length: 12 }, (_, i) => [taskDefinition(FAMILY, i + 1), 'INACTIVE' as const])));
    // Act
    await resources().cleanUp(KEY);
    // Assess
    assert.deepEqual(ecs.commandCalls(DeleteTaskDefinitionsCommand).map((c) => c.args[0].input.taskDefinitions!.length), [10, 2]);
  });

  it('follows ListTaskDefinitions pages', async () => {
    // Prepare
    fakeIamRoles(iam);
    ecs.on(ListTaskDefinitionsCommand, { familyPrefix: FAMILY, status: 'ACTIVE' }).resolves({ taskDefinitionArns: [taskDefinition(FAMILY, 1)], nextToken: 'more' });
    ecs.on(ListTaskDefinitionsCommand, { familyPrefix: FAMILY, status: 'ACTIVE', nextToken: 'more' }).resolves({ taskDefinitionArns: [taskDefinition(FAMILY, 2)] });
    ecs.on(ListTaskDefinitionsCommand, { familyPrefix: FAMILY, status: 'INACTIVE' }).resolves({ taskDefinitionArns: [] });
    ecs.on(DeregisterTaskDefinitionCommand).resolves({});
    ecs.on(DeleteTaskDefinitionsCommand).resolves({ failures: [] });
    // Act
    await resources().cleanUp(KEY);
    // Assess
    assert.deepEqual(ecs.commandCalls(DeregisterTaskDefinitionCommand).map((c) => c.args[0].input.taskDefinition), [taskDefinition(FAMILY, 1), taskDefinition(FAMILY, 2)]);
  });

  it('reports revisions ECS would not delete (its per-item failures) as a RunResourcesError naming them', async () => {
    // Prepare
    fakeIamRoles(iam);
    fakeEcs({ [taskDefinition(FAMILY, 1)]: 'INACTIVE' });
    ecs.on(DeleteTaskDefinitionsCommand).resolves({ failures: [{ arn: taskDefinition(FAMILY, 1), reason: 'TASK_DEFINITION_IN_USE' }] });
    // Act / Assess
    await assert.rejects(resources().cleanUp(KEY), (e: unknown) => e instanceof RunResourcesError && e.message.includes(`${taskDefinition(FAMILY, 1)}: TASK_DEFINITION_IN_USE`));
  });

  const ecsFailures: Array<[string, () => Error, (e: unknown) => boolean]> = [
    ['throttling', () => throttling(ECSServiceException), (e) => e instanceof TransientError],
    ['a ServerException (500)', () => internalError(ECSServiceException, 'ServerException'), (e) => e instanceof TransientError],
    ['a timeout', timeoutError, (e) => e instanceof TransientError],
    ['AccessDenied', () => serviceError(ECSServiceException, 'AccessDeniedException', 400, 'not authorized to perform: ecs:DeregisterTaskDefinition'), (e) => e instanceof RunResourcesError],
    ['a ClientException', () => new ClientException({ message: 'The specified task definition does not exist.', $metadata: { httpStatusCode: 400 } }), (e) => e instanceof RunResourcesError],
  ];
  for (const [what, make, expected] of ecsFailures) {
    it(`maps ${what} from DeregisterTaskDefinition to ${what.includes('Access') || what.includes('Client') ? 'RunResourcesError' : 'TransientError'}`, async () => {
      // Prepare
      fakeIamRoles(iam);
      fakeEcs({ [taskDefinition(FAMILY, 1)]: 'ACTIVE' });
      ecs.on(DeregisterTaskDefinitionCommand).rejects(make());
      // Act / Assess
      await assert.rejects(resources().cleanUp(KEY), (e: unknown) => expected(e) && /Deregistering the run task definition/.test((e as Error).message));
    });
  }

  it('maps a DeleteRole conflict (a policy put meanwhile) to TransientError, and throttling while listing policies too', async () => {
    // Prepare
    iam.on(ListRolePoliciesCommand).resolves({ PolicyNames: [], IsTruncated: false });
    iam.on(DeleteRoleCommand).rejects(new DeleteConflictException({ message: 'Cannot delete entity, must delete policies first.', $metadata: { httpStatusCode: 409 } }));
    // Act / Assess
    await assert.rejects(resources().cleanUp(KEY), (e: unknown) => e instanceof TransientError && /Deleting the run task role/.test((e as Error).message));
    iam.reset();
    iam.on(ListRolePoliciesCommand).rejects(throttling(IAMServiceException, 'Throttling'));
    await assert.rejects(resources().cleanUp(KEY), (e: unknown) => e instanceof TransientError && /Listing the policies of the run task role/.test((e as Error).message));
  });
});
