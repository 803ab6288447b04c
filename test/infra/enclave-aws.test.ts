/**
 * The enclave as deployed (lib/constructs/enclave-aws.ts in the stateless stack): the isolated network, the
 * buckets and their policies, the roles, the build and the run, and that the deployed state machine is the
 * definition local mode executes. Template assertions only: what needs a real account is in docs/enclave.md.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { CarrelConfigError, parseConfig, type CarrelConfigInput } from '../../lib/config.js';
import { resolvedDefinition, synthesizeEnclaveDefinition } from '../../local/enclave/definition.js';
import { actionsOf, buildTestApp, resourcesOf, type Statement } from './support.js';

const ENCLAVE: CarrelConfigInput = {
  deploymentId: 'test',
  enclave: {
    enabled: true,
    mailFrom: 'enclave@uni.example',
    reviewers: ['rita@uni.example'],
    dataset: { bucketArn: 'arn:aws:s3:::research-data', prefix: 'cohort/' },
    outputRetentionDays: 14,
  },
};

type Resource = { Type: string; Properties: Record<string, any> };
let template: Template;
let resources: Record<string, Resource>;

const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const logicalId = (type: string, pattern: RegExp) => {
  const found = ofType(type).filter(([id]) => pattern.test(id));
  assert.equal(found.length, 1, `one ${type} matching ${pattern}, found ${found.map(([id]) => id).join(', ')}`);
  return found[0]![0];
};
/** Every statement of the policies attached to the role `roleId` (inline policies and default policy). */
function statementsOf(roleId: string): Statement[] {
  return ofType('AWS::IAM::Policy')
    .filter(([, p]) => (p.Properties.Roles as unknown[]).some((r) => JSON.stringify(r) === JSON.stringify({ Ref: roleId })))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Statement[]);
}
/** The per-run roles' ARN pattern as CloudFormation renders it. */
const RUN_ROLES = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':role/carrel/test/runs/carrel-test-run-*']] };
type FullStatement = Statement & { Sid?: string; Condition?: Record<string, Record<string, unknown>> };
const allowing = (statements: readonly FullStatement[], action: string) => statements.filter((s) => s.Effect === 'Allow' && actionsOf(s).includes(action));
const bucketPolicy = (bucketId: string) =>
  ofType('AWS::S3::BucketPolicy').find(([, p]) => JSON.stringify(p.Properties.Bucket) === JSON.stringify({ Ref: bucketId }))![1].Properties.PolicyDocument.Statement as (Statement & {
    Sid?: string;
    Condition?: Record<string, Record<string, unknown>>;
  })[];

before(() => {
  const { stateless } = buildTestApp({ config: ENCLAVE });
  template = Template.fromStack(stateless);
  resources = template.toJSON().Resources;
});

describe('enclave configuration', () => {
  it('is off by default: no state machine, bucket or VPC in the stateless stack', () => {
    // Act
    const plain = Template.fromStack(buildTestApp().stateless);
    // Assess
    plain.resourceCountIs('AWS::StepFunctions::StateMachine', 0);
    plain.resourceCountIs('AWS::EC2::VPC', 0);
  });

  it('refuses an enabled enclave without a dataset or sender, and a Fargate size that does not exist, naming the setting', () => {
    // Act + Assess
    assert.throws(() => parseConfig({ enclave: { enabled: true } }), (e: unknown) => e instanceof CarrelConfigError && /enclave\.dataset/.test(e.message) && /enclave\.mailFrom/.test(e.message));
    assert.throws(() => parseConfig({ enclave: { ...ENCLAVE.enclave, cpu: 1024, memoryMiB: 16384 } }), /enclave\.memoryMiB: must be between 2048 and 8192/);
    assert.throws(() => parseConfig({ enclave: { ...ENCLAVE.enclave, dataset: { bucketArn: 'research-data' } } }), /enclave\.dataset\.bucketArn: must be an S3 bucket ARN/);
    assert.throws(() => parseConfig({ enclave: { ...ENCLAVE.enclave, releaseLinkTtlSeconds: 8 * 86400 } }), /enclave\.releaseLinkTtlSeconds: must be at most 604800/);
  });
});

describe('enclave network', () => {
  it('has isolated subnets only: no internet gateway, no NAT, no route to 0.0.0.0/0', () => {
    // Assess
    template.resourceCountIs('AWS::EC2::InternetGateway', 0);
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.resourceCountIs('AWS::EC2::Route', 0);
    for (const [, subnet] of ofType('AWS::EC2::Subnet')) assert.equal(subnet.Properties.MapPublicIpOnLaunch, false);
    template.resourceCountIs('AWS::EC2::FlowLog', 1);
  });

  it('has exactly the endpoints a run needs: S3 (gateway), ECR API, ECR registry and Logs (interface)', () => {
    // Assess
    const services = ofType('AWS::EC2::VPCEndpoint').map(([, e]) => JSON.stringify(e.Properties.ServiceName).match(/com\.amazonaws\.[^"]*?\.?([a-z.]+)"?\]/)?.[1] ?? JSON.stringify(e.Properties.ServiceName));
    assert.equal(services.length, 4, services.join(', '));
    const rendered = JSON.stringify(ofType('AWS::EC2::VPCEndpoint').map(([, e]) => e.Properties.ServiceName));
    for (const service of ['.s3', '.ecr.api', '.ecr.dkr', '.logs']) assert.ok(rendered.includes(service), `${service} in ${rendered}`);
  });

  it('lets the S3 endpoint reach only the dataset (read), run outputs (write) and ECR image layers', () => {
    // Prepare
    const s3 = ofType('AWS::EC2::VPCEndpoint').find(([, e]) => e.Properties.VpcEndpointType === 'Gateway')![1];
    // Assess
    const statements = s3.Properties.PolicyDocument.Statement as Statement[];
    assert.deepEqual(statements.map((s) => actionsOf(s).sort()), [['s3:GetObject', 's3:ListBucket'], ['s3:PutObject'], ['s3:GetObject']]);
    const text = JSON.stringify(statements.map(resourcesOf));
    assert.ok(text.includes('arn:aws:s3:::research-data/cohort/*') && text.includes('/runs/*') && text.includes('starport-layer-bucket'), text);
  });

  it('gives runs a security group with HTTPS to the endpoints and the S3 prefix list only, and the endpoints HTTPS from runs only', () => {
    // Prepare
    const runGroup = logicalId('AWS::EC2::SecurityGroup', /RunSecurityGroup/);
    const endpointGroup = logicalId('AWS::EC2::SecurityGroup', /EndpointSecurityGroup/);
    // Assess: no inline egress (CDK's rules are separate resources), and exactly two egress rules, both HTTPS.
    assert.equal(resources[runGroup]!.Properties.SecurityGroupEgress, undefined);
    const egress = ofType('AWS::EC2::SecurityGroupEgress').filter(([, r]) => JSON.stringify(r.Properties.GroupId).includes(runGroup)).map(([, r]) => r.Properties);
    assert.equal(egress.length, 2, JSON.stringify(egress));
    for (const rule of egress) assert.deepEqual([rule.IpProtocol, rule.FromPort, rule.ToPort], ['tcp', 443, 443]);
    assert.ok(egress.some((rule) => JSON.stringify(rule.DestinationSecurityGroupId ?? '').includes(endpointGroup)), 'to the endpoints');
    assert.ok(egress.some((rule) => JSON.stringify(rule.DestinationPrefixListId ?? '').includes('PrefixList')), 'to the S3 prefix list');
    assert.ok(egress.every((rule) => rule.CidrIp === undefined && rule.CidrIpv6 === undefined), 'no address range');
    const ingress = ofType('AWS::EC2::SecurityGroupIngress').filter(([, r]) => JSON.stringify(r.Properties.GroupId).includes(endpointGroup));
    assert.equal(ingress.length, 1);
    assert.ok(JSON.stringify(ingress[0]![1].Properties.SourceSecurityGroupId).includes(runGroup));
  });
});

describe('enclave buckets', () => {
  it('are KMS-encrypted with the enclave key, versioned, private, and logged', () => {
    for (const pattern of [/RunObjects[0-9A-F]{8}$/, /EnclaveOutputs[0-9A-F]{8}$/]) {
      // Prepare
      const bucket = resources[logicalId('AWS::S3::Bucket', pattern)]!.Properties;
      // Assess
      assert.equal(bucket.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm, 'aws:kms');
      assert.equal(bucket.VersioningConfiguration.Status, 'Enabled');
      assert.deepEqual(bucket.PublicAccessBlockConfiguration, { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
      assert.ok(bucket.LoggingConfiguration.DestinationBucketName, 'server access logs');
    }
  });

  it('refuse requests without TLS, writes with another key, and deletion of versions', () => {
    for (const pattern of [/RunObjects[0-9A-F]{8}$/, /EnclaveOutputs[0-9A-F]{8}$/]) {
      // Prepare
      const statements = bucketPolicy(logicalId('AWS::S3::Bucket', pattern));
      // Assess
      assert.ok(statements.some((s) => s.Effect === 'Deny' && JSON.stringify(s.Condition) === JSON.stringify({ Bool: { 'aws:SecureTransport': 'false' } })));
      assert.ok(statements.some((s) => s.Sid === 'DenyOtherEncryption' && s.Effect === 'Deny'));
      assert.ok(statements.some((s) => s.Sid === 'DenyVersionDeletion' && actionsOf(s).includes('s3:DeleteObjectVersion')));
    }
  });

  it('keep submissions immutable: every write to run objects must be a conditional create', () => {
    // Assess
    const statements = bucketPolicy(logicalId('AWS::S3::Bucket', /RunObjects[0-9A-F]{8}$/));
    const create = statements.find((s) => s.Sid === 'OnlyCreateNew')!;
    assert.equal(create.Effect, 'Deny');
    assert.deepEqual(create.Condition, { Null: { 's3:if-none-match': 'true' } });
  });

  it("let only the runs' own roles write outputs and only the collect step read them; outputs expire after outputRetentionDays", () => {
    // Prepare
    const outputs = logicalId('AWS::S3::Bucket', /EnclaveOutputs[0-9A-F]{8}$/);
    const statements = bucketPolicy(outputs);
    const collectRole = logicalId('AWS::IAM::Role', /EnclaveCollectRole/);
    // Assess
    const reads = statements.find((s) => s.Sid === 'OnlyCollectReads')!;
    assert.equal(reads.Effect, 'Deny');
    assert.ok(JSON.stringify(reads.Condition).includes(collectRole));
    const writes = statements.find((s) => s.Sid === 'OnlyRunsWrite')!;
    assert.equal(writes.Effect, 'Deny');
    assert.deepEqual(actionsOf(writes), ['s3:PutObject']);
    assert.deepEqual(writes.Condition, { ArnNotLike: { 'aws:PrincipalArn': RUN_ROLES } });
    assert.equal(resources[outputs]!.Properties.LifecycleConfiguration.Rules[0].ExpirationInDays, 14);
  });
});

describe('enclave build and run', () => {
  it('builds into an ECR repository with scan on push, immutable tags and KMS', () => {
    template.hasResourceProperties('AWS::ECR::Repository', {
      ImageScanningConfiguration: { ScanOnPush: true },
      ImageTagMutability: 'IMMUTABLE',
      EncryptionConfiguration: { EncryptionType: 'KMS', KmsKey: Match.anyValue() },
    });
  });

  it('builds with a fixed buildspec (no source: the submission cannot bring its own) that checks the manifest and has no RUN', () => {
    // Prepare
    const project = resources[logicalId('AWS::CodeBuild::Project', /EnclaveBuild/)]!.Properties;
    // Assess
    assert.equal(project.Source.Type, 'NO_SOURCE');
    const spec = JSON.stringify(project.Source.BuildSpec);
    assert.match(spec, /differs from the manifest/);
    assert.match(spec, /register-task-definition/);
    // The run's task definition names the run's own role, made by PrepareRun: <prefix><runId>.
    assert.match(spec, /s\|@TASK_ROLE@\|\$RUN_ROLE_PREFIX\$RUN_ID\|/);
    const env = Object.fromEntries((project.Environment.EnvironmentVariables as { Name: string; Value: unknown }[]).map((v) => [v.Name, v.Value]));
    assert.deepEqual(env.RUN_ROLE_PREFIX, { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':role/carrel/test/runs/carrel-test-run-']] });
    const template = JSON.stringify(env.TASK_TEMPLATE);
    assert.match(template, /\\"taskRoleArn\\":\\"@TASK_ROLE@\\"/);
    assert.match(template, /carrel:run\\",\\"value\\":\\"@RUN@/);
    assert.doesNotMatch(spec.slice(spec.indexOf('Dockerfile'), spec.indexOf('DF\\\\n', spec.indexOf('Dockerfile') + 20)), /\\nRUN /);
  });

  it("runs as nobody with a read-only root file system; the template's role may do nothing, the run boundary at most read the dataset and create outputs", () => {
    // Prepare
    const task = resources[logicalId('AWS::ECS::TaskDefinition', /RunTask/)]!.Properties;
    const templateRole = logicalId('AWS::IAM::Role', /RunTemplateRole/);
    const boundary = resources[logicalId('AWS::IAM::ManagedPolicy', /RunRoleBoundary/)]!.Properties;
    const bounded = boundary.PolicyDocument.Statement as FullStatement[];
    // Assess
    assert.equal(task.ContainerDefinitions[0].User, '65534:65534');
    assert.equal(task.ContainerDefinitions[0].ReadonlyRootFilesystem, true);
    assert.deepEqual(task.TaskRoleArn, { 'Fn::GetAtt': [templateRole, 'Arn'] });
    assert.deepEqual(statementsOf(templateRole), [], 'the template role has no policy');
    assert.equal(resources[templateRole]!.Properties.ManagedPolicyArns, undefined);
    assert.equal(boundary.ManagedPolicyName, 'carrel-test-enclave-run-boundary');
    assert.equal(boundary.Path, '/carrel/test/');
    assert.deepEqual(bounded.map((s) => actionsOf(s)).flat().sort(), ['kms:Decrypt', 'kms:GenerateDataKey', 's3:GetObject', 's3:ListBucket', 's3:PutObject']);
    assert.match(JSON.stringify(resourcesOf(allowing(bounded, 's3:PutObject')[0]!)), /\/runs\/\*"/);
  });

  it("lets the build pass only the runs' own roles and the execution role, to ECS tasks only, and register only tagged definitions", () => {
    // Prepare
    const statements = statementsOf(logicalId('AWS::IAM::Role', /EnclaveBuildRole/)) as FullStatement[];
    // Assess
    const pass = allowing(statements, 'iam:PassRole');
    assert.equal(pass.length, 1);
    const passed = resourcesOf(pass[0]!).map((r) => JSON.stringify(r)).sort();
    assert.equal(passed.length, 2);
    assert.match(passed[0]!, /RunTaskExecutionRole/);
    assert.equal(passed[1], JSON.stringify(RUN_ROLES));
    assert.deepEqual(pass[0]!.Condition, { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
    assert.deepEqual(allowing(statements, 'ecs:RegisterTaskDefinition')[0]!.Condition, { StringEquals: { 'aws:RequestTag/carrel:deployment': 'test' } });
    assert.deepEqual(allowing(statements, 'ecs:TagResource')[0]!.Condition, { StringEquals: { 'ecs:CreateAction': 'RegisterTaskDefinition' } });
  });

  it('lets the state machine pass only the runs\' own roles (RunTask of a run\'s task definition), to ECS tasks only', () => {
    // Prepare
    const statements = statementsOf(logicalId('AWS::IAM::Role', /EnclaveMachineStateMachineRole/)) as FullStatement[];
    // Act
    const passed = allowing(statements, 'iam:PassRole').flatMap((s) => resourcesOf(s).map((r) => [JSON.stringify(r), s.Condition]));
    // Assess
    assert.ok(passed.some(([r, c]) => r === JSON.stringify(RUN_ROLES) && JSON.stringify(c) === JSON.stringify({ StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } })), JSON.stringify(passed));
  });
});

describe('enclave run resources step', () => {
  it('creates run roles only on the runs path, only with the run boundary, tagged only as the deployment\'s; removes only those', () => {
    // Prepare
    const role = logicalId('AWS::IAM::Role', /EnclaveEnclaveResourcesRole/);
    const statements = statementsOf(role) as FullStatement[];
    const boundary = { Ref: logicalId('AWS::IAM::ManagedPolicy', /RunRoleBoundary/) };
    const everything = ofType('AWS::IAM::Role').filter(([id]) => id.startsWith('Enclave')).flatMap(([id]) => statementsOf(id)) as FullStatement[];
    // Assess
    for (const action of ['iam:CreateRole', 'iam:PutRolePolicy', 'iam:TagRole', 'iam:GetRole', 'iam:ListRolePolicies', 'iam:DeleteRolePolicy', 'iam:DeleteRole']) {
      const granted = allowing(everything, action);
      assert.equal(granted.length, 1, `${action}: one statement, in the resources step only`);
      assert.ok(statements.includes(granted[0]!), `${action}: the resources step`);
      assert.deepEqual(resourcesOf(granted[0]!), [RUN_ROLES], action);
    }
    assert.deepEqual(allowing(statements, 'iam:CreateRole')[0]!.Condition, { StringEquals: { 'iam:PermissionsBoundary': boundary } });
    assert.deepEqual(allowing(statements, 'iam:PutRolePolicy')[0]!.Condition, { StringEquals: { 'iam:PermissionsBoundary': boundary } });
    assert.deepEqual(allowing(statements, 'iam:TagRole')[0]!.Condition, {
      StringEquals: { 'aws:RequestTag/carrel:deployment': 'test' },
      'ForAllValues:StringEquals': { 'aws:TagKeys': ['carrel:deployment', 'carrel:analysis', 'carrel:run'] },
    });
    for (const action of ['iam:AttachRolePolicy', 'iam:PutRolePermissionsBoundary', 'iam:DeleteRolePermissionsBoundary', 'iam:UpdateAssumeRolePolicy', 'iam:PassRole']) {
      assert.equal(allowing(statements, action).length, 0, `${action} is never granted to the resources step`);
    }
    // ECS: list and deregister have no resource types; delete only the runs' families.
    assert.deepEqual(resourcesOf(allowing(statements, 'ecs:DeregisterTaskDefinition')[0]!), ['*']);
    assert.deepEqual(resourcesOf(allowing(statements, 'ecs:DeleteTaskDefinitions')[0]!), [
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ecs:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':task-definition/carrel-test-enclave-run-*:*']] },
    ]);
  });
});

describe('enclave roles', () => {
  it('grant no wildcard action and no write on "*"', () => {
    // Prepare
    const enclaveRoles = ofType('AWS::IAM::Role').filter(([id]) => id.startsWith('Enclave')).map(([id]) => id);
    assert.ok(enclaveRoles.length >= 8, enclaveRoles.join(', '));
    const allowedOnStar = new Set([
      'xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'xray:GetSamplingRules', 'xray:GetSamplingTargets',
      'logs:CreateLogDelivery', 'logs:GetLogDelivery', 'logs:UpdateLogDelivery', 'logs:DeleteLogDelivery', 'logs:ListLogDeliveries',
      'logs:PutResourcePolicy', 'logs:DescribeResourcePolicies', 'logs:DescribeLogGroups',
      'ecr:GetAuthorizationToken', 'ecs:RegisterTaskDefinition', 'ecs:StopTask', 'ecs:DescribeTasks',
      // No resource types (Service Authorization Reference); the resources step uses them for its run's family only.
      'ecs:ListTaskDefinitions', 'ecs:DeregisterTaskDefinition',
      'ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets', 'ec2:DescribeManagedPrefixLists',
    ]);
    // Assess
    for (const role of enclaveRoles) {
      for (const statement of statementsOf(role)) {
        for (const action of actionsOf(statement)) assert.doesNotMatch(action, /^\*$|:\*$/, `${role}: ${action}`);
        if (statement.Effect === 'Allow' && resourcesOf(statement).includes('*')) {
          for (const action of actionsOf(statement)) assert.ok(allowedOnStar.has(action), `${role}: ${action} on *`);
        }
      }
    }
  });

  it('give each step function only its own objects: the archive step creates submissions, verify reads them, release and check read collected outputs, notify no S3', () => {
    // Prepare
    const s3Of = (pattern: RegExp) =>
      statementsOf(logicalId('AWS::IAM::Role', pattern))
        .filter((s) => actionsOf(s).some((a) => a.startsWith('s3:')))
        .map((s) => `${actionsOf(s).sort().join('+')} ${JSON.stringify(resourcesOf(s)).match(/runs\/[^"]*/g)?.sort().join(',')}`);
    // Assess
    // Read back only to adopt an earlier attempt's objects (a retried ArchiveHome), at the version it found.
    assert.deepEqual(s3Of(/EnclaveHomeSnapshotFunctionRole/), ['s3:GetObject+s3:GetObjectVersion+s3:PutObject runs/*/*/home.tar.gz,runs/*/*/manifest.json']);
    assert.deepEqual(s3Of(/EnclaveVerifyRole/), ['s3:GetObject runs/*/*/home.tar.gz,runs/*/*/manifest.json']);
    // GetObjectVersion: the collected outputs are read at the version the run pinned when they were collected.
    assert.deepEqual(s3Of(/EnclaveCheckRole/), ['s3:GetObject+s3:GetObjectVersion runs/*/*/outputs.manifest.json,runs/*/*/outputs.tar.gz']);
    assert.deepEqual(s3Of(/EnclaveReleaseRole/), ['s3:GetObject+s3:GetObjectVersion runs/*/*/outputs.manifest.json,runs/*/*/outputs.tar.gz']);
    assert.deepEqual(s3Of(/EnclaveNotifyRole/), []);
  });

  it('give every step function the table but the archive step (it mounts the homes and reads no record)', () => {
    // Prepare
    const tableActions = (pattern: RegExp) => statementsOf(logicalId('AWS::IAM::Role', pattern)).flatMap((s) => actionsOf(s).filter((a) => a.startsWith('dynamodb:')));
    // Assess
    assert.deepEqual(tableActions(/EnclaveHomeSnapshotFunctionRole/), []);
    for (const role of [/EnclaveVerifyRole/, /EnclaveNotifyRole/, /EnclaveCollectRole/, /EnclaveCheckRole/, /EnclaveReleaseRole/]) assert.ok(tableActions(role).includes('dynamodb:PutItem'), String(role));
  });
});

describe('enclave release', () => {
  it("signs the desk's download link: kms:Sign on the desk's signing key, in the release function only", () => {
    // Prepare
    const signers = ofType('AWS::IAM::Role')
      // The enclave's own roles (EnclaveDesk holds the desk's run routes, which sign links like every desk function).
      .filter(([id]) => id.startsWith('Enclave') && !id.startsWith('EnclaveDesk'))
      .filter(([id]) => statementsOf(id).some((s) => actionsOf(s).includes('kms:Sign')))
      .map(([id]) => id);
    // Assess
    assert.equal(signers.length, 1);
    assert.match(signers[0]!, /EnclaveRelease/);
    const sign = statementsOf(signers[0]!).find((s) => actionsOf(s).includes('kms:Sign'))!;
    assert.match(JSON.stringify(resourcesOf(sign)), /SigningKey/);
  });
});

describe('enclave mail', () => {
  it("gives the function that asks for review the desk's origin, so the review-needed mail links to the run's review page", () => {
    // Prepare
    const envOf = (pattern: RegExp) => resources[logicalId('AWS::Lambda::Function', pattern)]!.Properties.Environment.Variables as Record<string, unknown>;
    // Assess
    assert.equal(envOf(/^EnclaveEnclaveNotify/).DESK_ORIGIN, 'https://desk.example.org');
    assert.equal(envOf(/^EnclaveEnclaveNotify/).DESK_ORIGIN, envOf(/^EnclaveEnclaveRelease/).DESK_ORIGIN);
  });
});

describe('enclave state machine as deployed', () => {
  it('is the definition local mode executes (same states, integrations, retries, catches and timeouts)', () => {
    // Prepare: ARNs differ (deployed resources vs local stand-ins), and so does the run task family's name.
    const normalize = (definition: Record<string, unknown>) =>
      JSON.parse(
        JSON.stringify(definition)
          .replace(/arn:aws:(lambda|codebuild|ecs|ec2|iam)[^"]*/g, 'ARN:$1')
          .replace(/States\.Format\('[^']*-\{\}'/g, "States.Format('<family>-{}'")
          // The deployment's VPC spans two zones, the local stand-in three: both are isolated subnets.
          .replace(/"Subnets":\[[^\]]*\]/g, '"Subnets":"<isolated subnets>"'),
      );
    // Act
    const deployed = normalize(resolvedDefinition(template));
    const local = normalize(synthesizeEnclaveDefinition());
    // Assess
    assert.deepEqual(deployed, local);
  });

  it('runs each run in its own task definition family, in isolated subnets, without a public IP', () => {
    // Prepare
    const run = (resolvedDefinition(template) as { States: Record<string, { Parameters: Record<string, any> }> }).States.RunInEnclave!.Parameters;
    // Assess
    assert.equal(run['TaskDefinition.$'], "States.Format('carrel-test-enclave-run-{}', $.runId)");
    // CDK leaves AssignPublicIp out for `assignPublicIp: false`: RunTask's default for awsvpc is DISABLED.
    assert.notEqual(run.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp, 'ENABLED');
    assert.ok(run.NetworkConfiguration.AwsvpcConfiguration.Subnets.every((s: string) => /EnclaveVpcenclaveSubnet/.test(s)));
    assert.equal(run.LaunchType, 'FARGATE');
  });
});
