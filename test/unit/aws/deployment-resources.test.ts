import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { GetFunctionConfigurationCommand, LambdaClient, LambdaServiceException } from '@aws-sdk/client-lambda';
import { GetResourcesCommand, ResourceGroupsTaggingAPIClient, ResourceGroupsTaggingAPIServiceException } from '@aws-sdk/client-resource-groups-tagging-api';
import { mockClient } from 'aws-sdk-client-mock';
import { TransientError } from '../../../lambdas/core/errors.js';
import { IAMClient, IAMServiceException, ListRolesCommand, ListRoleTagsCommand } from '@aws-sdk/client-iam';
import { DeploymentNotFoundError, DeploymentResources, DeploymentRoles, resourceTypeOf } from '../../../lambdas/adapters/aws/deployment-resources.js';
import { clientError, serviceError, timeoutError } from './sdk-errors.js';

const config = { region: 'eu-west-2', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
const taggingClient = new ResourceGroupsTaggingAPIClient(config);
const lambdaClient = new LambdaClient(config);
const tagging = mockClient(taggingClient);
const lambda = mockClient(lambdaClient);
const resources = () => new DeploymentResources(taggingClient, lambdaClient, 'prod');

const INSTANCE = 'arn:aws:ec2:eu-west-2:111122223333:instance/i-0123456789abcdef0';
const ACCESS_POINT = 'arn:aws:elasticfilesystem:eu-west-2:111122223333:access-point/fsap-0123456789abcdef0';
const STOP_FN = 'arn:aws:lambda:eu-west-2:111122223333:function:carrel-prod-stateless-FunctionsStop-AbCdEf';

describe('DeploymentResources', () => {
  afterEach(() => {
    tagging.reset();
    lambda.reset();
  });

  it('lists every resource tagged with the deployment, following pages, by type', async () => {
    // Prepare
    tagging
      .on(GetResourcesCommand, { PaginationToken: undefined })
      .resolves({ PaginationToken: 'page-2', ResourceTagMappingList: [{ ResourceARN: INSTANCE, Tags: [{ Key: 'carrel:analysis', Value: 'demo' }] }] })
      .on(GetResourcesCommand, { PaginationToken: 'page-2' })
      .resolves({ PaginationToken: '', ResourceTagMappingList: [{ ResourceARN: ACCESS_POINT, Tags: [] }] });

    // Act
    const listed = await resources().list();

    // Assess
    assert.deepEqual(
      listed.map((r) => [r.type, r.arn]),
      [
        ['ec2:instance', INSTANCE],
        ['elasticfilesystem:access-point', ACCESS_POINT],
      ],
    );
    assert.deepEqual(listed[0]!.tags, { 'carrel:analysis': 'demo' });
    const inputs = tagging.commandCalls(GetResourcesCommand).map((c) => c.args[0].input);
    assert.equal(inputs.length, 2);
    assert.deepEqual(inputs[0]!.TagFilters, [{ Key: 'carrel:deployment', Values: ['prod'] }]);
  });

  it('reads the desk settings from the environment of the function tagged as its stop entry point', async () => {
    // Prepare
    tagging.on(GetResourcesCommand).resolves({ ResourceTagMappingList: [{ ResourceARN: STOP_FN, Tags: [{ Key: 'carrel:function', Value: 'stop' }] }] });
    lambda.on(GetFunctionConfigurationCommand, { FunctionName: STOP_FN }).resolves({ Environment: { Variables: { TABLE_NAME: 'carrel-prod-table' } } });

    // Act
    const env = await resources().deskEnvironment();

    // Assess
    assert.deepEqual(env, { TABLE_NAME: 'carrel-prod-table' });
    const input = tagging.commandCalls(GetResourcesCommand)[0]!.args[0].input;
    assert.deepEqual(input.TagFilters, [
      { Key: 'carrel:deployment', Values: ['prod'] },
      { Key: 'carrel:function', Values: ['stop'] },
    ]);
    assert.deepEqual(input.ResourceTypeFilters, ['lambda:function']);
  });

  it('says the deployment was not found, naming what to check, when no function carries its tags', async () => {
    // Prepare
    tagging.on(GetResourcesCommand).resolves({ ResourceTagMappingList: [] });

    // Act / Assess
    await assert.rejects(resources().deskEnvironment(), (error) => error instanceof DeploymentNotFoundError && /carrel:deployment=prod.*deployment id and the region/.test(error.message));
    assert.equal(lambda.calls().length, 0);
  });

  for (const [what, error, expected] of [
    ['throttling', () => serviceError(ResourceGroupsTaggingAPIServiceException, 'ThrottledException', 400, 'Rate exceeded'), TransientError],
    ['a 5xx', () => serviceError(ResourceGroupsTaggingAPIServiceException, 'InternalServiceException', 500), TransientError],
    ['a timeout', () => timeoutError(), TransientError],
    ['missing permissions', () => clientError(ResourceGroupsTaggingAPIServiceException, 'AccessDeniedException', 'User is not authorized to perform: tag:GetResources'), Error],
  ] as const) {
    it(`reports ${what} while listing as ${expected.name}`, async () => {
      // Prepare
      tagging.on(GetResourcesCommand).rejects(error());

      // Act / Assess
      await assert.rejects(resources().list(), (e) => e instanceof expected && (expected !== Error || /not authorized to perform: tag:GetResources/.test((e as Error).message)));
    });
  }

  it('reports a throttled read of the function configuration as transient', async () => {
    // Prepare
    tagging.on(GetResourcesCommand).resolves({ ResourceTagMappingList: [{ ResourceARN: STOP_FN }] });
    lambda.on(GetFunctionConfigurationCommand).rejects(serviceError(LambdaServiceException, 'TooManyRequestsException', 429, 'Rate exceeded'));

    // Act / Assess
    await assert.rejects(resources().deskEnvironment(), TransientError);
  });

  it('names resource types from their ARNs', () => {
    assert.equal(resourceTypeOf(INSTANCE), 'ec2:instance');
    assert.equal(resourceTypeOf('arn:aws:lambda:eu-west-2:1:function:carrel-x'), 'lambda:function');
    assert.equal(resourceTypeOf('arn:aws:s3:::carrel-prod-releases'), 's3:bucket');
    assert.equal(resourceTypeOf('arn:aws:iam::1:role/carrel/prod/homes/x'), 'iam:role');
  });
});

describe('DeploymentRoles', () => {
  const iamClient = new IAMClient(config);
  const iam = mockClient(iamClient);
  afterEach(() => iam.reset());
  const RUN_ROLE = 'arn:aws:iam::111122223333:role/carrel/prod/runs/carrel-prod-run-r20261123t203446z-abcdefghij';
  const HOME_ROLE = 'arn:aws:iam::111122223333:role/carrel/prod/homes/carrel-prod-home-0123456789abcdef';

  it("lists the roles under the deployment's path (all pages) with their tags, which the Tagging API cannot list", async () => {
    // Prepare
    iam
      .on(ListRolesCommand, { PathPrefix: '/carrel/prod/', Marker: undefined })
      .resolves({ Roles: [{ RoleName: 'carrel-prod-run-r20261123t203446z-abcdefghij', Arn: RUN_ROLE, Path: '/carrel/prod/runs/', RoleId: 'A', CreateDate: new Date() }], IsTruncated: true, Marker: 'm' })
      .on(ListRolesCommand, { PathPrefix: '/carrel/prod/', Marker: 'm' })
      .resolves({ Roles: [{ RoleName: 'carrel-prod-home-0123456789abcdef', Arn: HOME_ROLE, Path: '/carrel/prod/homes/', RoleId: 'B', CreateDate: new Date() }], IsTruncated: false });
    iam.on(ListRoleTagsCommand, { RoleName: 'carrel-prod-run-r20261123t203446z-abcdefghij' }).resolves({ Tags: [{ Key: 'carrel:analysis', Value: 'demo' }, { Key: 'carrel:run', Value: 'r20261123t203446z-abcdefghij' }] });
    iam.on(ListRoleTagsCommand, { RoleName: 'carrel-prod-home-0123456789abcdef' }).resolves({ Tags: [{ Key: 'carrel:user', Value: 'alice' }] });
    // Act
    const listed = await new DeploymentRoles(iamClient, 'prod').list();
    // Assess
    assert.deepEqual(listed, [
      { arn: HOME_ROLE, type: 'iam:role', tags: { 'carrel:user': 'alice' } },
      { arn: RUN_ROLE, type: 'iam:role', tags: { 'carrel:analysis': 'demo', 'carrel:run': 'r20261123t203446z-abcdefghij' } },
    ]);
  });

  it('reports throttling as transient and a refusal as it is', async () => {
    // Prepare
    iam.on(ListRolesCommand).rejectsOnce(serviceError(IAMServiceException, 'Throttling', 400, 'Rate exceeded')).rejectsOnce(serviceError(IAMServiceException, 'AccessDenied', 403, 'not authorized to perform: iam:ListRoles'));
    // Act / Assess
    await assert.rejects(new DeploymentRoles(iamClient, 'prod').list(), TransientError);
    await assert.rejects(new DeploymentRoles(iamClient, 'prod').list(), /iam:ListRoles/);
  });
});
