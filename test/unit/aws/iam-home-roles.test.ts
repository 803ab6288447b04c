import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import {
  CreateRoleCommand,
  EntityAlreadyExistsException,
  GetRoleCommand,
  IAMClient,
  IAMServiceException,
  PutRolePolicyCommand,
  ServiceFailureException,
  type PutRolePolicyCommandInput,
} from '@aws-sdk/client-iam';
import { mockClient } from 'aws-sdk-client-mock';
import { ECS_TASKS_TRUST, fakeIamRoles } from '../../support/fake-iam.js';
import { TransientError } from '../../../lambdas/core/errors.js';
import type { Log } from '../../../lambdas/core/ports.js';
import { ComputeError } from '../../../lambdas/adapters/aws/ec2-compute.js';
import { HOME_ROLE_POLICY, HomeTaskRoles, homeRoleName, locationOfArn } from '../../../lambdas/adapters/aws/iam-home-roles.js';
import { connectionReset, serviceError, throttling, timeoutError } from './sdk-errors.js';

const client = new IAMClient({ region: 'eu-west-2', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const iam = mockClient(client);
const silent: Log = { info() {}, warn() {}, error() {} };
const KEY = { analysisId: 'demo', userId: 'alice@example.org' };
const AP = 'fsap-0aaaaaaaaaaaaaaaa';
const NAME = homeRoleName('prod', KEY);
const BOUNDARY = 'arn:aws:iam::123456789012:policy/carrel/prod/carrel-prod-ws-home-boundary';
const CREATED = new Date('2026-11-23T10:00:00Z');

const roles = () => new HomeTaskRoles(client, { deploymentId: 'prod', location: locationOfArn('arn:aws:ecs:eu-west-2:123456789012:cluster/carrel-prod-workspaces'), fileSystemId: 'fs-0123456789abcdef0', log: silent });

const fakeIam = () => fakeIamRoles(iam, CREATED);

describe('HomeTaskRoles', () => {
  afterEach(() => iam.reset());

  it('names roles per deployment and home, within IAM’s 64 characters, and reads the location from an ARN', () => {
    // Prepare
    const longest = 'a'.repeat(24);

    // Act
    const name = homeRoleName(longest, KEY);
    const location = locationOfArn('arn:aws-cn:ecs:cn-north-1:123456789012:cluster/x');

    // Assess
    assert.match(NAME, /^carrel-prod-home-[0-9a-f]{16}$/);
    assert.notEqual(NAME, homeRoleName('prod', { analysisId: 'demo', userId: 'bob' }));
    assert.ok(name.length <= 64);
    assert.deepEqual(location, { partition: 'aws-cn', region: 'cn-north-1', account: '123456789012' });
    assert.throws(() => locationOfArn('not-an-arn'), ComputeError);
  });

  it('creates the role on the deployment’s path with the boundary, a scoped trust policy and tags, then lets it mount only its access point', async () => {
    // Prepare
    fakeIam();

    // Act
    const role = await roles().ensure(KEY, AP);

    // Assess
    assert.deepEqual(role, { arn: `arn:aws:iam::123456789012:role/carrel/prod/homes/${NAME}`, createdAt: CREATED });
    const create = iam.commandCalls(CreateRoleCommand)[0]!.args[0].input;
    assert.deepEqual({ ...create, AssumeRolePolicyDocument: JSON.parse(create.AssumeRolePolicyDocument!) }, {
      RoleName: NAME,
      Path: '/carrel/prod/homes/',
      AssumeRolePolicyDocument: ECS_TASKS_TRUST,
      PermissionsBoundary: BOUNDARY,
      Description: `carrel prod: the workspace task of one home; mounts only access point ${AP}`,
      MaxSessionDuration: 3600,
      Tags: [
        { Key: 'carrel:deployment', Value: 'prod' },
        { Key: 'carrel:analysis', Value: 'demo' },
        { Key: 'carrel:user', Value: 'alice@example.org' },
        { Key: 'carrel:home', Value: AP },
      ],
    });
    const put = iam.commandCalls(PutRolePolicyCommand)[0]!.args[0].input as PutRolePolicyCommandInput;
    assert.deepEqual({ ...put, PolicyDocument: JSON.parse(put.PolicyDocument!) }, {
      RoleName: NAME,
      PolicyName: HOME_ROLE_POLICY,
      PolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
            Resource: 'arn:aws:elasticfilesystem:eu-west-2:123456789012:file-system/fs-0123456789abcdef0',
            Condition: {
              StringEquals: { 'elasticfilesystem:AccessPointArn': `arn:aws:elasticfilesystem:eu-west-2:123456789012:access-point/${AP}` },
              Bool: { 'elasticfilesystem:AccessedViaMountTarget': 'true' },
            },
          },
        ],
      },
    });
  });

  it('ensures twice → one role: the second finds it, checks it is this deployment’s, and puts the policy again', async () => {
    // Prepare
    const made = fakeIam();
    await roles().ensure(KEY, AP);

    // Act
    const again = await roles().ensure(KEY, AP);

    // Assess
    assert.equal(made.size, 1);
    assert.equal(again.arn, `arn:aws:iam::123456789012:role/carrel/prod/homes/${NAME}`);
    assert.deepEqual(iam.commandCalls(GetRoleCommand).map((call) => call.args[0].input), [{ RoleName: NAME }]);
    assert.equal(iam.commandCalls(PutRolePolicyCommand).length, 2, 'a run that died between CreateRole and PutRolePolicy is repaired');
  });

  for (const [what, role] of [
    ['on another path', { Path: '/', PermissionsBoundary: { PermissionsBoundaryArn: BOUNDARY } }],
    ['without the boundary', { Path: '/carrel/prod/homes/' }],
  ] as const) {
    it(`refuses an existing role of that name ${what}, and gives it no policy`, async () => {
      // Prepare
      iam.on(CreateRoleCommand).rejects(new EntityAlreadyExistsException({ message: 'exists', $metadata: { httpStatusCode: 409 } }));
      iam.on(GetRoleCommand).resolves({ Role: { RoleName: NAME, RoleId: 'AROAX', Arn: `arn:aws:iam::123456789012:role${role.Path}${NAME}`, CreateDate: CREATED, ...role } });

      // Act
      const ensuring = roles().ensure(KEY, AP);

      // Assess
      await assert.rejects(ensuring, (error) => error instanceof ComputeError && /is not a home task role of this deployment/.test(error.message));
      assert.equal(iam.commandCalls(PutRolePolicyCommand).length, 0);
    });
  }

  const transient: Array<[string, () => Error]> = [
    ['throttling', () => throttling(IAMServiceException, 'Throttling')],
    ['ServiceFailure (500)', () => new ServiceFailureException({ message: 'internal', $metadata: { httpStatusCode: 500 } })],
    ['a timeout', timeoutError],
    ['a reset connection', connectionReset],
  ];
  for (const [what, make] of transient) {
    it(`maps ${what} from CreateRole to TransientError`, async () => {
      // Prepare
      iam.on(CreateRoleCommand).rejects(make());

      // Act
      const ensuring = roles().ensure(KEY, AP);

      // Assess
      await assert.rejects(ensuring, (error) => error instanceof TransientError && /Creating the home task role/.test(error.message));
    });
  }

  it('maps a refused PutRolePolicy (e.g. a missing boundary grant) to a ComputeError naming the role', async () => {
    // Prepare
    fakeIam();
    iam.on(PutRolePolicyCommand).rejects(serviceError(IAMServiceException, 'AccessDenied', 403, 'not authorized to perform: iam:PutRolePolicy'));

    // Act
    const ensuring = roles().ensure(KEY, AP);

    // Assess
    await assert.rejects(
      ensuring,
      (error) => error instanceof ComputeError && !(error instanceof TransientError) && error.message.includes(`Letting the home task role ${NAME} mount its home failed`),
    );
  });
});
