import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type { CarrelConfigInput } from '../../lib/config.js';
import { ENTRY_NAMES, type EntryName } from '../../lib/constructs/desk-functions.js';
import { FargateWorkspaces, GATE_TLS_SECRET_VARIABLES, type Ec2Workspaces } from '../../lib/constructs/workspace-compute.js';
import type { CarrelFunction } from '../../lib/lambda-function.js';
import { loadConfig as loadDeskConfig } from '../../lambdas/handlers/config.js';
import { loadProvisionerConfig } from '../../lambdas/handlers/provision.js';
import { ECS_GATE_CONTAINER, ECS_READY_CONTAINER } from '../../lambdas/adapters/aws/compute-event-mapping.js';
import { startedByFor } from '../../lambdas/adapters/aws/ecs-compute.js';
import { EC2_CONFIG, FARGATE_CONFIG, WORKSPACE_DESK, WORKSPACE_ZONE, actionsOf, buildTestApp, resourcesOf, type Statement } from './support.js';

const ZONE = WORKSPACE_ZONE;
const DESK = WORKSPACE_DESK;

/** The AWS-workspaces variables of docs/contracts.md each kind sets on open, stop, housekeeping and compute-events. */
const WORKSPACE_ENVIRONMENT = {
  common: [
    'COMPUTE_KIND',
    'WORKSPACE_SIZES',
    'WORKSPACE_SUBNET_IDS',
    'WORKSPACE_SECURITY_GROUP_ID',
    'WORKSPACE_ADDRESS',
    'EFS_FILE_SYSTEM_ID',
    'HOME_UID',
    'HOME_GID',
    'HOSTED_ZONE_ID',
    'HOSTNAME_TTL_SECONDS',
    'GATE_PORT',
  ],
  ec2: ['LAUNCH_TEMPLATE_ID', 'HIBERNATE', 'PROVISIONER_FUNCTION_NAME'],
  fargate: ['ECS_CLUSTER_ARN', 'TASK_DEFINITION_ARN'],
};
const WITH_WORKSPACES: readonly EntryName[] = ['open', 'stop', 'agent-bootstrap', 'housekeeping', 'compute-events'];

/** What the references in the environment resolve to when deployed (same shapes as AWS ids and ARNs). */
const RESOLVED: Record<string, string> = {
  TABLE_NAME: 'carrel-test-stateful-TableCD117FA1-ABC123',
  SIGNING_KEY_ID: 'arn:aws:kms:eu-west-2:123456789012:key/0b1c2d3e-1234-4abc-9def-0123456789ab',
  WORKSPACE_SUBNET_IDS: 'subnet-0000000000000000a,subnet-0000000000000000b',
  WORKSPACE_SECURITY_GROUP_ID: 'sg-0123456789abcdef0',
  EFS_FILE_SYSTEM_ID: 'fs-0123456789abcdef0',
  LAUNCH_TEMPLATE_ID: 'lt-0123456789abcdef0',
  PROVISIONER_FUNCTION_NAME: 'carrel-test-stateless-WorkspacesProvisionerA5F7-AbCdEf',
  ECS_CLUSTER_ARN: 'arn:aws:ecs:eu-west-2:123456789012:cluster/carrel-test-workspaces',
  TASK_DEFINITION_ARN: 'arn:aws:ecs:eu-west-2:123456789012:task-definition/carrel-test-ws:1',
  PROVISIONER_SSH_KEY_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:ProvisionerKeySecret-AbCdEf',
  GATE_CERTIFICATE_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:GateCertificate-AbCdEf',
};

/** Read-only actions that have no resource-level permissions, the only ones allowed on Resource "*" besides the two below. */
const READ_ONLY_ON_STAR = new Set([
  'ec2:DescribeInstances',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ecs:DescribeTaskDefinition',
  'ecs:ListTasks',
  'ecr:GetAuthorizationToken',
]);
/** Writes on Resource "*": X-Ray (no resource-level permissions), and RegisterTaskDefinition only with the deployment tag. */
const WRITE_ON_STAR = new Set(['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'ecs:RegisterTaskDefinition']);

type Resources = Record<string, { Type: string; Properties: Record<string, any>; DeletionPolicy?: string; DependsOn?: string[] }>;
type FullStatement = Statement & { Condition?: Record<string, Record<string, unknown>> };

interface Built {
  stacks: Stack[];
  network: Template;
  stateful: Template;
  stateless: Template;
  functions: Record<EntryName, CarrelFunction>;
  statelessStack: Stack;
  workspaces: NonNullable<ReturnType<typeof buildTestApp>['stateless']['workspaces']>;
}

/** Built apps by configuration: each configuration is synthesized once per test file. */
const builtApps = new Map<string, Built>();

function build(config: CarrelConfigInput): Built {
  const key = JSON.stringify(config);
  const cached = builtApps.get(key);
  if (cached) return cached;
  const built = buildUncached(config);
  builtApps.set(key, built);
  return built;
}

function buildUncached(config: CarrelConfigInput): Built {
  const app = buildTestApp({ config });
  const workspaces = app.stateless.workspaces;
  assert.ok(app.network && workspaces, 'workspaces are built');
  return {
    stacks: [app.network, app.stateful, app.stateless],
    network: Template.fromStack(app.network),
    stateful: Template.fromStack(app.stateful),
    stateless: Template.fromStack(app.stateless),
    functions: { ...app.stateless.functions.functions },
    statelessStack: app.stateless,
    workspaces,
  };
}

const logicalId = (stack: Stack, construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as never);

/** Every statement of every policy (inline, default, role-embedded) of the templates, with the policy's logical id. */
function identityStatements(...templates: Template[]): Array<FullStatement & { policy: string }> {
  return templates.flatMap((template) => {
    const resources = template.toJSON().Resources as Resources;
    return Object.entries(resources).flatMap(([id, resource]) => {
      if (resource.Type === 'AWS::IAM::Policy') {
        return (resource.Properties.PolicyDocument.Statement as FullStatement[]).map((s) => ({ ...s, policy: id }));
      }
      if (resource.Type === 'AWS::IAM::Role') {
        return ((resource.Properties.Policies ?? []) as Array<{ PolicyDocument: { Statement: FullStatement[] } }>).flatMap((p) =>
          p.PolicyDocument.Statement.map((s) => ({ ...s, policy: id })),
        );
      }
      return [];
    });
  });
}

/** The statements of the policies attached to a function's role. */
function functionStatements(built: Built, fn: CarrelFunction): FullStatement[] {
  const roleId = logicalId(built.statelessStack, fn.role as iam.Role);
  return Object.values(built.stateless.findResources('AWS::IAM::Policy'))
    .filter((policy) => (policy.Properties.Roles as unknown[]).some((role) => JSON.stringify(role) === JSON.stringify({ Ref: roleId })))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as FullStatement[]);
}

const allowing = (statements: FullStatement[], action: string) => statements.filter((s) => s.Effect === 'Allow' && actionsOf(s).includes(action));
const isRead = (action: string) => /^[a-z0-9-]+:(Describe|List|Get)/.test(action);

for (const [kind, config] of [
  ['ec2', EC2_CONFIG],
  ['fargate', FARGATE_CONFIG],
] as const) {
  describe(`AWS workspaces (${kind}): least privilege`, () => {
    let built: Built;
    before(() => {
      // Prepare / Act
      built = build(config);
    });

    it('has no wildcard action, and on Resource "*" only read-only actions without resource-level permissions', () => {
      // Prepare
      const statements = identityStatements(built.network, built.stateful, built.stateless);

      // Assess
      assert.ok(statements.length > 0);
      for (const statement of statements) {
        for (const action of actionsOf(statement)) assert.ok(action !== '*' && !action.endsWith(':*'), `wildcard action ${action} in ${statement.policy}`);
        if (statement.Effect !== 'Allow' || !resourcesOf(statement).includes('*')) continue;
        for (const action of actionsOf(statement)) {
          const where = `${action} on Resource "*" in ${statement.policy}`;
          assert.ok(READ_ONLY_ON_STAR.has(action) || WRITE_ON_STAR.has(action), where);
          if (action === 'ecs:RegisterTaskDefinition') {
            assert.deepEqual(statement.Condition, { StringEquals: { 'aws:RequestTag/carrel:deployment': 'test' } }, where);
          }
        }
      }
    });

    it('gives the function code no network-interface writes: the VPC access statement is denied to it', () => {
      // Prepare
      const statements = identityStatements(built.stateless);
      const accountWide = statements.filter((s) => s.Effect === 'Allow' && JSON.stringify(s.Resource).includes(':*/*'));

      // Assess
      for (const statement of accountWide) {
        assert.match(statement.policy, /VpcAccessPolicy/);
        const deny = statements.find((s) => s.policy === statement.policy && s.Effect === 'Deny');
        assert.deepEqual(deny?.Condition, { Null: { 'lambda:SourceFunctionArn': 'false' } });
        for (const action of actionsOf(statement)) assert.ok(actionsOf(deny!).includes(action), `${action} is denied to the code`);
      }
      assert.equal(accountWide.length, kind === 'ec2' ? 1 : 0, 'only the provisioner is in the VPC');
    });

    it('passes only the workspace roles, only to their service', () => {
      // Prepare
      const passRole = allowing(identityStatements(built.stateless), 'iam:PassRole');
      const compute = built.workspaces.compute;
      const homeRoles = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':role/carrel/test/homes/carrel-test-home-*']] };
      const roles =
        compute instanceof FargateWorkspaces
          ? [homeRoles, { 'Fn::GetAtt': [logicalId(built.statelessStack, compute.executionRole), 'Arn'] }]
          : [{ 'Fn::GetAtt': [logicalId(built.statelessStack, (compute as Ec2Workspaces).instanceRole), 'Arn'] }];
      const expected = roles.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

      // Assess
      assert.equal(passRole.length, 1, 'only open passes roles');
      assert.deepEqual(actionsOf(passRole[0]!), ['iam:PassRole']);
      assert.deepEqual(resourcesOf(passRole[0]!).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))), expected);
      assert.deepEqual(passRole[0]!.Condition, {
        StringEquals: { 'iam:PassedToService': kind === 'ec2' ? 'ec2.amazonaws.com' : 'ecs-tasks.amazonaws.com' },
      });
      assert.ok(functionStatements(built, built.functions.open).some((s) => actionsOf(s).includes('iam:PassRole')));
    });

    it('creates access points only on the homes file system, tagged with the deployment', () => {
      // Prepare
      const statements = identityStatements(built.stateless);
      const create = allowing(statements, 'elasticfilesystem:CreateAccessPoint');
      const tag = allowing(statements, 'elasticfilesystem:TagResource');

      // Assess
      assert.equal(create.length, 1);
      assert.deepEqual(create[0]!.Condition, { StringEquals: { 'aws:RequestTag/carrel:deployment': 'test' } });
      assert.match(JSON.stringify(create[0]!.Resource), /HomesFileSystem.*Arn/);
      assert.equal(tag.length, 1);
      assert.deepEqual(tag[0]!.Condition, {
        StringEquals: { 'elasticfilesystem:CreateAction': 'CreateAccessPoint', 'aws:RequestTag/carrel:deployment': 'test' },
      });
      assert.deepEqual(
        ENTRY_NAMES.filter((name) => functionStatements(built, built.functions[name]).some((s) => actionsOf(s).includes('elasticfilesystem:CreateAccessPoint'))),
        ['open'],
      );
    });

    it('changes only A records named ws-*.<desk domain>, on the desk zone', () => {
      // Prepare
      // (The gate certificate renewal's _acme-challenge TXT statement is asserted in gate-certificate.test.ts.)
      const change = allowing(
        identityStatements(built.stateless).filter((s) => !/^GateCertificateRenewal/.test(s.policy)),
        'route53:ChangeResourceRecordSets',
      );

      // Assess
      assert.ok(change.length > 0);
      for (const statement of change) {
        assert.deepEqual(resourcesOf(statement), [{ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:route53:::hostedzone/${ZONE.zoneId}`]] }]);
        assert.deepEqual(statement.Condition, {
          'ForAllValues:StringLike': { 'route53:ChangeResourceRecordSetsNormalizedRecordNames': [`ws-*.${DESK}`] },
          'ForAllValues:StringEquals': {
            'route53:ChangeResourceRecordSetsRecordTypes': ['A'],
            'route53:ChangeResourceRecordSetsActions': ['UPSERT', 'DELETE'],
          },
        });
      }
    });

    it('gives workspace permissions only to open, stop, housekeeping and compute-events, each its own', () => {
      // Prepare
      const workspaceActions = (name: EntryName) =>
        functionStatements(built, built.functions[name])
          .flatMap(actionsOf)
          .filter((a) => /^(ec2|ecs|elasticfilesystem|route53|iam|lambda):/.test(a))
          .sort();
      const launch = kind === 'ec2' ? 'ec2:RunInstances' : 'ecs:RunTask';
      const stop = kind === 'ec2' ? 'ec2:StopInstances' : 'ecs:StopTask';

      // Assess
      for (const name of ['me', 'status', 'heartbeat', 'agent-activity'] as const) assert.deepEqual(workspaceActions(name), [], name);
      assert.ok(workspaceActions('open').includes(launch));
      assert.ok(!workspaceActions('open').includes(stop));
      assert.ok(workspaceActions('stop').includes(stop) && !workspaceActions('stop').includes(launch));
      assert.ok(workspaceActions('stop').includes('route53:ChangeResourceRecordSets'));
      assert.ok(!workspaceActions('compute-events').includes(launch) && !workspaceActions('compute-events').includes(stop));
      if (kind === 'ec2') {
        assert.ok(workspaceActions('housekeeping').includes('ec2:TerminateInstances'));
        assert.ok(!workspaceActions('stop').includes('ec2:TerminateInstances'));
        assert.deepEqual(
          ENTRY_NAMES.filter((name) => workspaceActions(name).includes('lambda:InvokeFunction')),
          ['compute-events'],
        );
        const invoke = allowing(functionStatements(built, built.functions['compute-events']), 'lambda:InvokeFunction');
        assert.deepEqual(resourcesOf(invoke[0]!), [{ 'Fn::GetAtt': [logicalId(built.statelessStack, built.workspaces.provisioner!), 'Arn'] }]);
      }
    });

    it('sets the AWS-workspaces environment of docs/contracts.md on the functions that use workspaces only', () => {
      // Prepare
      const expected = [...WORKSPACE_ENVIRONMENT.common, ...WORKSPACE_ENVIRONMENT[kind]].sort();
      const resources = built.stateless.toJSON().Resources as Resources;
      const variables = (name: EntryName) =>
        resources[logicalId(built.statelessStack, built.functions[name])]!.Properties.Environment.Variables as Record<string, unknown>;

      // Assess
      for (const name of ENTRY_NAMES) {
        const present = Object.keys(variables(name)).filter((key) => [...WORKSPACE_ENVIRONMENT.common, ...WORKSPACE_ENVIRONMENT.ec2, ...WORKSPACE_ENVIRONMENT.fargate].includes(key));
        assert.deepEqual(present.sort(), WITH_WORKSPACES.includes(name) ? expected : [], name);
      }
      const open = variables('open');
      assert.equal(open.COMPUTE_KIND, kind);
      assert.equal(open.WORKSPACE_ADDRESS, 'private');
      assert.equal(open.GATE_PORT, '443');
      assert.equal(open.HOSTED_ZONE_ID, ZONE.zoneId);
      assert.deepEqual(Object.keys(JSON.parse(open.WORKSPACE_SIZES as string)).sort(), ['large', 'medium', 'small']);
      assert.deepEqual(
        ((open.WORKSPACE_SUBNET_IDS as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1]).map((part) => (typeof part === 'string' ? part : JSON.stringify(part).match(/privateSubnet\d/)?.[0])),
        ['privateSubnet1', ',', 'privateSubnet2'],
      );
      assert.match(JSON.stringify(open.EFS_FILE_SYSTEM_ID), /HomesFileSystem/);
      for (const name of ENTRY_NAMES) {
        assert.equal(variables(name).PROVISIONER_SSH_KEY_SECRET_ARN, undefined, `${name} never sees the SSH key secret`);
      }
    });

    it('names the gate certificate secret in an output, for the operator to write the certificate into', () => {
      // Assess
      built.stateless.hasOutput('GateCertificateSecretArn', { Value: { Ref: logicalId(built.statelessStack, built.workspaces.certificateSecret) } });
    });

    it('sets an environment the handlers accept (lambdas/handlers/config.ts, and provision.ts for the provisioner)', () => {
      // Prepare: the values CloudFormation resolves the references to, in the shapes AWS returns.
      const resources = built.stateless.toJSON().Resources as Resources;
      const deployed = (fn: CarrelFunction) =>
        Object.fromEntries(
          Object.entries(resources[logicalId(built.statelessStack, fn)]!.Properties.Environment.Variables as Record<string, unknown>).map(([key, value]) => [
            key,
            typeof value === 'string' ? value : (RESOLVED[key] ?? assert.fail(`no resolved value for ${key}`)),
          ]),
        );
      const functions = [...WITH_WORKSPACES.map((name) => built.functions[name]), ...(built.workspaces.provisioner ? [built.workspaces.provisioner] : [])];

      // Act
      const configs = functions.map((fn) => loadDeskConfig(deployed(fn)));

      // Assess
      for (const config of configs) {
        assert.equal(config.workspaces.compute?.kind, kind);
        assert.deepEqual(config.workspaces.compute?.subnetIds, ['subnet-0000000000000000a', 'subnet-0000000000000000b']);
        assert.equal(config.workspaces.homes?.fileSystemId, 'fs-0123456789abcdef0');
        assert.equal(config.workspaces.hostnames?.hostedZoneId, ZONE.zoneId);
      }
      if (built.workspaces.provisioner) {
        const provisioner = loadProvisionerConfig(deployed(built.workspaces.provisioner));
        assert.equal(provisioner.sshKeySecretArn, RESOLVED.PROVISIONER_SSH_KEY_SECRET_ARN);
        assert.equal(provisioner.certificateSecretArn, RESOLVED.GATE_CERTIFICATE_SECRET_ARN);
      }
    });
  });
}

describe('AWS workspaces: network', () => {
  let ec2: Built;
  let fargate: Built;
  const groupId = (built: Built, name: RegExp) => {
    const [id] = Object.keys(built.network.findResources('AWS::EC2::SecurityGroup')).filter((key) => name.test(key));
    assert.ok(id, `security group ${name}`);
    return { 'Fn::GetAtt': [id, 'GroupId'] };
  };

  before(() => {
    // Prepare / Act
    ec2 = build(EC2_CONFIG);
    fargate = build(FARGATE_CONFIG);
  });

  it('spans two zones with public and private-with-egress subnets behind one shared NAT gateway by default', () => {
    // Assess
    ec2.network.resourceCountIs('AWS::EC2::VPC', 1);
    ec2.network.hasResourceProperties('AWS::EC2::VPC', { CidrBlock: '10.40.0.0/16' });
    ec2.network.resourceCountIs('AWS::EC2::Subnet', 4);
    ec2.network.resourceCountIs('AWS::EC2::NatGateway', 1);
    const subnets = Object.values(ec2.network.findResources('AWS::EC2::Subnet'));
    const types = subnets.map((s) => (s.Properties.Tags as Array<{ Key: string; Value: string }>).find((t) => t.Key === 'aws-cdk:subnet-type')?.Value).sort();
    assert.deepEqual(types, ['Private', 'Private', 'Public', 'Public']);
    const zones = new Set(subnets.map((s) => JSON.stringify(s.Properties.AvailabilityZone)));
    assert.equal(zones.size, 2);
    for (const subnet of subnets.filter((s) => JSON.stringify(s.Properties.Tags).includes('"Private"'))) {
      assert.equal(subnet.Properties.MapPublicIpOnLaunch, false, 'private subnets never assign a public IP');
    }
  });

  it('puts one NAT gateway per zone when configured', () => {
    // Act
    const built = build({ ...EC2_CONFIG, vpc: { natGateways: 2 } });

    // Assess
    built.network.resourceCountIs('AWS::EC2::NatGateway', 2);
  });

  it('has S3 and DynamoDB gateway endpoints on every route table', () => {
    // Assess
    const routeTables = Object.keys(ec2.network.findResources('AWS::EC2::RouteTable')).map((id) => ({ Ref: id }));
    const endpoints = Object.values(ec2.network.findResources('AWS::EC2::VPCEndpoint'));
    for (const service of ['.s3', '.dynamodb']) {
      const endpoint = endpoints.find((e) => JSON.stringify(e.Properties.ServiceName).endsWith(`${service}"]]}`));
      assert.equal(endpoint?.Properties.VpcEndpointType, 'Gateway', service);
      assert.deepEqual(new Set(endpoint?.Properties.RouteTableIds), new Set(routeTables), service);
    }
    assert.equal(routeTables.length, 4);
    ec2.network.resourceCountIs('AWS::EC2::VPCEndpoint', 2);
  });

  it('logs all traffic to a KMS-encrypted log group with retention, kept when removed', () => {
    // Assess
    ec2.network.hasResourceProperties('AWS::EC2::FlowLog', { ResourceType: 'VPC', TrafficType: 'ALL', LogDestinationType: 'cloud-watch-logs' });
    ec2.network.hasResource('AWS::Logs::LogGroup', {
      Properties: { LogGroupName: '/carrel/test/vpc-flow-logs', RetentionInDays: 365, KmsKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('FlowLogKey'), 'Arn'] }, Tags: Match.anyValue() },
      DeletionPolicy: 'Retain',
    });
    ec2.network.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: { 'Fn::Join': ['', ['logs.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } },
            Condition: { ArnEquals: { 'kms:EncryptionContext:aws:logs:arn': Match.anyValue() } },
          }),
        ]),
      },
    });
  });

  it('admits the gate port from each allowed CIDR only, and SSH only from the provisioner', () => {
    // Prepare
    const workspace = groupId(ec2, /WorkspaceSecurityGroup/);
    const provisioner = groupId(ec2, /ProvisionerSecurityGroup/);
    const [group] = Object.values(ec2.network.findResources('AWS::EC2::SecurityGroup', { Properties: { GroupDescription: Match.stringLikeRegexp('workspaces') } }));
    const separate = Object.values(ec2.network.findResources('AWS::EC2::SecurityGroupIngress')).filter(
      (rule) => JSON.stringify(rule.Properties.GroupId) === JSON.stringify(workspace),
    );

    // Assess
    assert.deepEqual(
      (group!.Properties.SecurityGroupIngress as Array<Record<string, unknown>>).map(({ CidrIp, IpProtocol, FromPort, ToPort }) => ({ CidrIp, IpProtocol, FromPort, ToPort })),
      [
        { CidrIp: '10.1.0.0/16', IpProtocol: 'tcp', FromPort: 443, ToPort: 443 },
        { CidrIp: '192.0.2.0/24', IpProtocol: 'tcp', FromPort: 443, ToPort: 443 },
      ],
    );
    assert.deepEqual(
      separate.map((rule) => rule.Properties),
      [{ Description: 'SSH from the provisioner only', IpProtocol: 'tcp', FromPort: 22, ToPort: 22, GroupId: workspace, SourceSecurityGroupId: provisioner }],
    );
  });

  it('lets the provisioner reach only SSH on workspaces and HTTPS', () => {
    // Prepare
    const provisioner = groupId(ec2, /ProvisionerSecurityGroup/);
    const [group] = Object.values(ec2.network.findResources('AWS::EC2::SecurityGroup', { Properties: { GroupDescription: Match.stringLikeRegexp('provisioner') } }));
    const separate = Object.values(ec2.network.findResources('AWS::EC2::SecurityGroupEgress')).filter(
      (rule) => JSON.stringify(rule.Properties.GroupId) === JSON.stringify(provisioner),
    );

    // Assess
    assert.equal(group!.Properties.SecurityGroupIngress, undefined, 'nothing reaches the provisioner');
    assert.deepEqual(group!.Properties.SecurityGroupEgress, [
      { CidrIp: '0.0.0.0/0', Description: 'AWS APIs over HTTPS (NAT; gateway endpoints)', IpProtocol: 'tcp', FromPort: 443, ToPort: 443 },
    ]);
    assert.deepEqual(
      separate.map((rule) => [rule.Properties.FromPort, rule.Properties.ToPort, rule.Properties.DestinationSecurityGroupId]),
      [[22, 22, groupId(ec2, /WorkspaceSecurityGroup/)]],
    );
  });

  it('admits NFS to the homes only from the workspace security group', () => {
    // Prepare
    const homes = groupId(ec2, /HomesSecurityGroup/);
    const rules = Object.values(ec2.network.findResources('AWS::EC2::SecurityGroupIngress')).filter(
      (rule) => JSON.stringify(rule.Properties.GroupId) === JSON.stringify(homes),
    );
    const [group] = Object.values(ec2.network.findResources('AWS::EC2::SecurityGroup', { Properties: { GroupDescription: Match.stringLikeRegexp('homes') } }));

    // Assess
    assert.equal(group!.Properties.SecurityGroupIngress, undefined);
    assert.deepEqual(
      rules.map((rule) => [rule.Properties.IpProtocol, rule.Properties.FromPort, rule.Properties.ToPort, rule.Properties.SourceSecurityGroupId]),
      [['tcp', 2049, 2049, groupId(ec2, /WorkspaceSecurityGroup/)]],
    );
  });

  it('opens the gate port to nobody when no CIDR is allowed, and has no provisioner with Fargate', () => {
    // Prepare
    const [group] = Object.values(fargate.network.findResources('AWS::EC2::SecurityGroup', { Properties: { GroupDescription: Match.stringLikeRegexp('workspaces') } }));
    const workspace = groupId(fargate, /WorkspaceSecurityGroup/);

    // Assess
    assert.equal(group!.Properties.SecurityGroupIngress, undefined);
    assert.deepEqual(
      Object.values(fargate.network.findResources('AWS::EC2::SecurityGroupIngress')).filter((r) => JSON.stringify(r.Properties.GroupId) === JSON.stringify(workspace)),
      [],
    );
    assert.equal(Object.keys(fargate.network.findResources('AWS::EC2::SecurityGroup')).filter((id) => /Provisioner/.test(id)).length, 0);
  });

  it('uses an existing VPC as given, adding only security groups', () => {
    // Act
    const built = build({
      ...EC2_CONFIG,
      vpc: {
        vpcId: 'vpc-0123456789abcdef0',
        availabilityZones: ['eu-west-2a', 'eu-west-2b'],
        privateSubnetIds: ['subnet-0000000000000000a', 'subnet-0000000000000000b'],
      },
    });

    // Assess
    built.network.resourceCountIs('AWS::EC2::VPC', 0);
    built.network.resourceCountIs('AWS::EC2::FlowLog', 0);
    built.network.resourceCountIs('AWS::EC2::SecurityGroup', 3);
    built.network.hasResourceProperties('AWS::EC2::SecurityGroup', { VpcId: 'vpc-0123456789abcdef0' });
    built.stateful.hasResourceProperties('AWS::EFS::MountTarget', { SubnetId: 'subnet-0000000000000000a' });
    built.stateful.hasResourceProperties('AWS::EFS::MountTarget', { SubnetId: 'subnet-0000000000000000b' });
  });
});

describe('AWS workspaces: homes', () => {
  let built: Built;
  before(() => {
    // Prepare / Act
    built = build(EC2_CONFIG);
  });

  it('is one EFS file system encrypted with its own rotated KMS key, elastic, moving idle files to IA, retained', () => {
    // Assess
    built.stateful.resourceCountIs('AWS::EFS::FileSystem', 1);
    built.stateful.hasResource('AWS::EFS::FileSystem', {
      Properties: Match.objectLike({
        Encrypted: true,
        KmsKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('HomesKey'), 'Arn'] },
        PerformanceMode: 'generalPurpose',
        ThroughputMode: 'elastic',
        LifecyclePolicies: [{ TransitionToIA: 'AFTER_30_DAYS' }, { TransitionToPrimaryStorageClass: 'AFTER_1_ACCESS' }],
      }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    built.stateful.hasResource('AWS::KMS::Key', {
      Properties: Match.objectLike({ EnableKeyRotation: true, Description: Match.stringLikeRegexp('homes') }),
      DeletionPolicy: 'Retain',
    });
  });

  it('refuses mounts without TLS, outside mount targets or by anyone but the workspace roles; allows them only through access points', () => {
    // Prepare
    const [fs] = Object.values(built.stateful.findResources('AWS::EFS::FileSystem'));
    const statements = fs!.Properties.FileSystemPolicy.Statement as FullStatement[];
    const roles = ['/carrel-test-ws-instance', '/carrel/test/homes/*'].map((name) => ({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, `:role${name}`]],
    }));
    const client = ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientRootAccess', 'elasticfilesystem:ClientWrite'];

    // Assess
    assert.deepEqual(
      statements.map((s) => [s.Effect, s.Action, s.Condition]),
      [
        ['Deny', '*', { Bool: { 'aws:SecureTransport': 'false' } }],
        ['Deny', client, { Bool: { 'elasticfilesystem:AccessedViaMountTarget': 'false' } }],
        ['Deny', client, { ArnNotLike: { 'aws:PrincipalArn': roles } }],
        [
          'Allow',
          ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
          {
            ArnLike: { 'aws:PrincipalArn': roles },
            Bool: { 'elasticfilesystem:AccessedViaMountTarget': 'true' },
            Null: { 'elasticfilesystem:AccessPointArn': 'false' },
          },
        ],
      ],
    );
    assert.ok(!statements.some((s) => s.Effect === 'Allow' && actionsOf(s).includes('elasticfilesystem:ClientRootAccess')), 'nobody gets root access');
  });

  it('puts a mount target in each private subnet, in the homes security group', () => {
    // Assess
    built.stateful.resourceCountIs('AWS::EFS::MountTarget', 2);
    for (const mount of Object.values(built.stateful.findResources('AWS::EFS::MountTarget'))) {
      assert.match(JSON.stringify(mount.Properties.SubnetId), /privateSubnet/);
      assert.match(JSON.stringify(mount.Properties.SecurityGroups), /HomesSecurityGroup/);
    }
  });

  it('backs the homes and the table up every day into a retained, encrypted vault, kept for the configured days', () => {
    // Assess
    built.stateful.hasResource('AWS::Backup::BackupVault', {
      Properties: Match.objectLike({ EncryptionKeyArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('HomesKey'), 'Arn'] } }),
      DeletionPolicy: 'Retain',
    });
    built.stateful.hasResourceProperties('AWS::Backup::BackupPlan', {
      BackupPlan: { BackupPlanRule: [Match.objectLike({ ScheduleExpression: 'cron(0 3 * * ? *)', Lifecycle: { DeleteAfterDays: 35 } })] },
    });
    built.stateful.hasResourceProperties('AWS::Backup::BackupSelection', {
      BackupSelection: Match.objectLike({
        Resources: [Match.objectLike({ 'Fn::Join': ['', Match.arrayWith([':file-system/', { Ref: Match.stringLikeRegexp('HomesFileSystem') }])] }), { 'Fn::GetAtt': [Match.stringLikeRegexp('^Table'), 'Arn'] }],
      }),
    });
  });

  it('follows the backup settings', () => {
    // Act
    const other = build({ ...EC2_CONFIG, backup: { schedule: 'cron(30 1 * * ? *)', retentionDays: 90 } });

    // Assess
    other.stateful.hasResourceProperties('AWS::Backup::BackupPlan', {
      BackupPlan: { BackupPlanRule: [Match.objectLike({ ScheduleExpression: 'cron(30 1 * * ? *)', Lifecycle: { DeleteAfterDays: 90 } })] },
    });
  });
});

describe('AWS workspaces: EC2', () => {
  let built: Built;
  let compute: Ec2Workspaces;
  before(() => {
    // Prepare / Act
    built = build(EC2_CONFIG);
    compute = built.workspaces.compute as Ec2Workspaces;
  });

  it('launches from a template that requires IMDSv2 with hop limit 1 and encrypts the gp3 root volume', () => {
    // Assess
    built.stateless.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateName: 'carrel-test-workspace',
      LaunchTemplateData: Match.objectLike({
        ImageId: 'ami-0123456789abcdef0',
        MetadataOptions: { HttpEndpoint: 'enabled', HttpTokens: 'required', HttpPutResponseHopLimit: 1, InstanceMetadataTags: 'disabled' },
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { Encrypted: true, VolumeType: 'gp3', VolumeSize: 32, DeleteOnTermination: true } }],
        IamInstanceProfile: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('InstanceProfile'), 'Arn'] } },
        SecurityGroupIds: [Match.objectLike({ 'Fn::GetStackOutput': Match.objectLike({ OutputName: Match.stringLikeRegexp('WorkspaceSecurityGroup') }) })],
        HibernationOptions: { Configured: false },
      }),
    });
  });

  it('asks for no public IP itself and tags what it launches with the deployment', () => {
    // Prepare
    const [template] = Object.values(built.stateless.findResources('AWS::EC2::LaunchTemplate'));
    const data = template!.Properties.LaunchTemplateData;

    // Assess
    assert.equal(data.NetworkInterfaces, undefined, 'the subnet decides: private subnets never assign a public IP');
    assert.deepEqual(
      (data.TagSpecifications as Array<{ ResourceType: string; Tags: unknown[] }>).map((spec) => [spec.ResourceType, spec.Tags]),
      ['instance', 'volume', 'network-interface'].map((type) => [
        type,
        [
          { Key: 'carrel:deployment', Value: 'test' },
          { Key: 'carrel:role', Value: 'workspace' },
        ],
      ]),
    );
  });

  it('has user data without secrets: only the provisioner public key from the key resource', () => {
    // Prepare
    const [template] = Object.values(built.stateless.findResources('AWS::EC2::LaunchTemplate'));
    const userData = JSON.stringify(template!.Properties.LaunchTemplateData.UserData);

    // Assess
    assert.match(userData, /#cloud-config/);
    assert.match(userData, /carrel-provisioner/);
    assert.match(userData, /emit_keys_to_console: true/);
    assert.match(userData, /lock_passwd: false/);
    assert.match(userData, /- \\"restrict \",\{"Fn::GetAtt"/);
    assert.doesNotMatch(userData, /sudo|- default/, 'no sudo beyond the image’s, no default user');
    assert.match(userData, /"Fn::GetAtt":\["WorkspacesProvisionerKey[0-9A-F]+","PublicKey"\]/);
    assert.doesNotMatch(userData, /PRIVATE KEY|secretsmanager|Secret|password/i);
  });

  it('hibernates when configured', () => {
    // Act
    const other = build({ ...EC2_CONFIG, hibernate: true });

    // Assess
    other.stateless.hasResourceProperties('AWS::EC2::LaunchTemplate', { LaunchTemplateData: Match.objectLike({ HibernationOptions: { Configured: true } }) });
    const [open] = Object.values(other.stateless.findResources('AWS::Lambda::Function', { Properties: { Environment: { Variables: Match.objectLike({ HIBERNATE: 'true' }) } } }));
    assert.ok(open);
  });

  it('with a warm pool: tells the functions, lets housekeeping launch spares, open take only spares, compute-events retire them', () => {
    // Act
    const pooled = build({ ...EC2_CONFIG, ec2: { warmPool: { sizes: { small: 2 }, forResume: false } } });

    // Assess: the settings reach every workspace function
    const withPool = Object.values(
      pooled.stateless.findResources('AWS::Lambda::Function', {
        Properties: { Environment: { Variables: Match.objectLike({ WARM_POOL: '{"small":2}', WARM_POOL_FOR_RESUME: 'false' }) } },
      }),
    );
    assert.equal(withPool.length, WITH_WORKSPACES.length + 1, 'open, stop, housekeeping, compute-events and the provisioner');
    // Housekeeping launches from the template like open does (and passes the instance role)
    const housekeeping = functionStatements(pooled, pooled.functions.housekeeping);
    assert.equal(allowing(housekeeping, 'ec2:RunInstances').length, 2);
    assert.equal(allowing(housekeeping, 'iam:PassRole').length, 1);
    // Open takes a spare: CreateTags of the workspace keys and DeleteTags of the spare keys, only on spares
    const open = functionStatements(pooled, pooled.functions.open);
    const onSpares = { StringEquals: { 'aws:ResourceTag/carrel:deployment': 'test' }, Null: { 'aws:ResourceTag/carrel:spare': 'false' } };
    const adopt = allowing(open, 'ec2:CreateTags').find((s) => s.Condition?.Null);
    assert.deepEqual(adopt?.Condition, {
      ...onSpares,
      'ForAllValues:StringEquals': { 'aws:TagKeys': ['carrel:analysis', 'carrel:user', 'carrel:workspace', 'carrel:generation', 'carrel:home', 'Name'] },
    });
    const untag = allowing(open, 'ec2:DeleteTags');
    assert.deepEqual(untag.map((s) => s.Condition), [{ ...onSpares, 'ForAllValues:StringEquals': { 'aws:TagKeys': ['carrel:spare', 'carrel:size'] } }]);
    assert.ok(allowing(open, 'lambda:InvokeFunction').length === 1, 'open hands a spare to the provisioner');
    assert.ok(allowing(open, 'ec2:TerminateInstances').length === 1, 'open ends the stopped instance a spare replaces');
    assert.ok(allowing(functionStatements(pooled, pooled.functions['compute-events']), 'ec2:TerminateInstances').length === 1);
    // No function may remove tags without a pool, and none but open may take spares
    for (const name of ENTRY_NAMES.filter((n) => n !== 'open')) assert.equal(allowing(functionStatements(pooled, pooled.functions[name]), 'ec2:DeleteTags').length, 0, name);
    assert.equal(allowing(functionStatements(built, built.functions.open), 'ec2:DeleteTags').length, 0);
    assert.equal(allowing(functionStatements(built, built.functions.housekeeping), 'ec2:RunInstances').length, 0);
  });

  it('reads the image from an SSM parameter at deploy time when given a parameter name', () => {
    // Act
    const other = build({ ...EC2_CONFIG, workspaceImageId: '/carrel/images/workspace' });

    // Assess
    const parameters = other.stateless.toJSON().Parameters as Record<string, { Type: string; Default: string }>;
    const [name] = Object.entries(parameters).find(([, p]) => p.Default === '/carrel/images/workspace')!;
    other.stateless.hasResourceProperties('AWS::EC2::LaunchTemplate', { LaunchTemplateData: Match.objectLike({ ImageId: { Ref: name } }) });
  });

  it('lets the instance role mount only the homes, through a mount target and an access point', () => {
    // Prepare
    const statements = functionRoleStatements(built, compute.instanceRole);

    // Assess
    assert.equal(built.stateless.toJSON().Resources[logicalId(built.statelessStack, compute.instanceRole)].Properties.RoleName, 'carrel-test-ws-instance');
    assert.deepEqual(statements.map((s) => [s.Action, s.Condition]), [
      [
        ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
        { Bool: { 'elasticfilesystem:AccessedViaMountTarget': 'true' }, Null: { 'elasticfilesystem:AccessPointArn': 'false' } },
      ],
    ]);
    assert.match(JSON.stringify(statements[0]!.Resource), /HomesFileSystem.*Arn/);
    assert.equal(built.stateless.toJSON().Resources[logicalId(built.statelessStack, compute.instanceRole)].Properties.ManagedPolicyArns, undefined);
  });

  it('launches only from the template, only with the deployment tag on what it creates, and tags only at creation', () => {
    // Prepare
    const statements = functionStatements(built, built.functions.open);
    const run = allowing(statements, 'ec2:RunInstances');
    const create = run.find((s) => s.Condition)!;
    const use = run.find((s) => !s.Condition)!;
    const tags = allowing(statements, 'ec2:CreateTags');

    // Assess
    assert.equal(run.length, 2);
    assert.deepEqual(create.Condition!.StringEquals, { 'aws:RequestTag/carrel:deployment': 'test' });
    assert.match(JSON.stringify(create.Condition!.ArnEquals), /ec2:LaunchTemplate.*launch-template\/.*LaunchTemplate/);
    assert.deepEqual(
      resourcesOf(create).map((r) => JSON.stringify(r).match(/:(instance|volume|network-interface)\/\*/)?.[1]).sort(),
      ['instance', 'network-interface', 'volume'],
    );
    assert.ok(resourcesOf(use).every((r) => !JSON.stringify(r).includes('*')), 'launch template, image, security group and subnets by id');
    assert.match(JSON.stringify(use.Resource), /image\/ami-0123456789abcdef0/);
    const atCreation = tags.find((s) => s.Condition?.StringEquals?.['ec2:CreateAction']);
    assert.deepEqual(atCreation?.Condition, { StringEquals: { 'ec2:CreateAction': 'RunInstances', 'aws:RequestTag/carrel:deployment': 'test' } });
    const retag = tags.find((s) => s !== atCreation);
    assert.deepEqual(retag?.Condition, {
      StringEquals: { 'aws:ResourceTag/carrel:deployment': 'test' },
      'ForAllValues:StringEquals': { 'aws:TagKeys': ['carrel:generation'] },
    });
  });

  it('starts, stops, terminates and reads the console of tagged instances only', () => {
    // Prepare
    const everything = [...ENTRY_NAMES.map((n) => built.functions[n]), built.workspaces.provisioner!].flatMap((fn) => functionStatements(built, fn));

    // Assess
    for (const action of ['ec2:StartInstances', 'ec2:StopInstances', 'ec2:TerminateInstances', 'ec2:GetConsoleOutput']) {
      const statements = allowing(everything, action);
      assert.ok(statements.length > 0, action);
      for (const statement of statements) {
        assert.deepEqual(statement.Condition, { StringEquals: { 'aws:ResourceTag/carrel:deployment': 'test' } }, action);
        assert.match(JSON.stringify(statement.Resource), /:instance\/\*"/, action);
      }
    }
  });

  it('runs the provisioner in the private subnets with its own security group, reading only its two secrets', () => {
    // Prepare
    const provisioner = built.workspaces.provisioner!;
    const resource = built.stateless.toJSON().Resources[logicalId(built.statelessStack, provisioner)];
    const statements = functionStatements(built, provisioner);
    const secrets = allowing(statements, 'secretsmanager:GetSecretValue');

    // Assess
    assert.equal(provisioner.entryName, 'provision');
    assert.match(JSON.stringify(resource.Properties.VpcConfig.SecurityGroupIds), /ProvisionerSecurityGroup/);
    assert.match(JSON.stringify(resource.Properties.VpcConfig.SubnetIds), /privateSubnet1.*privateSubnet2/);
    assert.ok((resource.DependsOn as string[]).some((id) => /VpcAccessPolicy/.test(id)), 'created after its network permissions');
    assert.equal(secrets.length, 1);
    assert.deepEqual(
      resourcesOf(secrets[0]!).map((r) => JSON.stringify(r)).sort(),
      [{ Ref: logicalId(built.statelessStack, built.workspaces.certificateSecret) }, { Ref: logicalId(built.statelessStack, built.workspaces.sshKeySecret!) }]
        .map((r) => JSON.stringify(r))
        .sort(),
    );
    const variables = resource.Properties.Environment.Variables;
    assert.deepEqual(variables.PROVISIONER_SSH_KEY_SECRET_ARN, { Ref: logicalId(built.statelessStack, built.workspaces.sshKeySecret!) });
    assert.deepEqual(variables.GATE_CERTIFICATE_SECRET_ARN, { Ref: logicalId(built.statelessStack, built.workspaces.certificateSecret) });
    assert.equal(variables.COMPUTE_KIND, 'ec2');
    assert.deepEqual(allowing(statements, 'kms:Sign').map(resourcesOf), allowing(functionStatements(built, built.functions.open), 'kms:Sign').map(resourcesOf));
  });

  it('lets the provisioner clean up a workspace that fails: terminate tagged instances, remove ws-* records of the desk zone', () => {
    // Prepare: core's failWorkspace (on a failed run) terminates the instance and releases the hostname
    const statements = functionStatements(built, built.workspaces.provisioner!);
    const zone = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:route53:::hostedzone/${ZONE.zoneId}`]] };
    const terminate = allowing(statements, 'ec2:TerminateInstances');
    const change = allowing(statements, 'route53:ChangeResourceRecordSets');
    const list = allowing(statements, 'route53:ListResourceRecordSets');

    // Assess
    assert.equal(terminate.length, 1);
    assert.deepEqual(terminate[0]!.Condition, { StringEquals: { 'aws:ResourceTag/carrel:deployment': 'test' } });
    assert.match(JSON.stringify(terminate[0]!.Resource), /:instance\/\*"/);
    assert.equal(change.length, 1);
    assert.deepEqual(resourcesOf(change[0]!), [zone]);
    assert.deepEqual(change[0]!.Condition, {
      'ForAllValues:StringLike': { 'route53:ChangeResourceRecordSetsNormalizedRecordNames': [`ws-*.${DESK}`] },
      'ForAllValues:StringEquals': {
        'route53:ChangeResourceRecordSetsRecordTypes': ['A'],
        'route53:ChangeResourceRecordSetsActions': ['UPSERT', 'DELETE'],
      },
    });
    assert.equal(list.length, 1);
    assert.deepEqual(resourcesOf(list[0]!), [zone]);
    for (const action of ['ec2:RunInstances', 'ec2:StartInstances', 'ec2:StopInstances', 'lambda:InvokeFunction']) {
      assert.equal(allowing(statements, action).length, 0, `the provisioner needs no ${action}`);
    }
  });

  it('generates the SSH key at deploy time into its secret, which only the generator may write', () => {
    // Assess
    built.stateless.hasResourceProperties('Custom::CarrelProvisionerKey', {
      ServiceToken: { 'Fn::GetAtt': [Match.stringLikeRegexp('ProvisionerKeyGenerator'), 'Arn'] },
      SecretArn: { Ref: logicalId(built.statelessStack, built.workspaces.sshKeySecret!) },
      Generation: '1',
    });
    const sshKey = JSON.stringify({ Ref: logicalId(built.statelessStack, built.workspaces.sshKeySecret!) });
    const writers = identityStatements(built.stateless).filter(
      (s) => actionsOf(s).includes('secretsmanager:PutSecretValue') && resourcesOf(s).some((r) => JSON.stringify(r) === sshKey),
    );
    assert.equal(writers.length, 1);
    assert.match(writers[0]!.policy, /ProvisionerKeyGenerator/);
  });

  it('delivers EC2 running, stopped and terminated only (the handler ignores untagged instances), and no ECS rule', () => {
    // Prepare
    const patterns = Object.values(built.stateless.findResources('AWS::Events::Rule')).map((r) => r.Properties.EventPattern).filter(Boolean);

    // Assess
    assert.deepEqual(patterns, [
      { source: ['aws.ec2'], 'detail-type': ['EC2 Instance State-change Notification'], detail: { state: ['running', 'stopped', 'terminated'] } },
    ]);
  });
});

describe('AWS workspaces: Fargate', () => {
  let built: Built;
  let compute: FargateWorkspaces;
  before(() => {
    // Prepare / Act
    built = build(FARGATE_CONFIG);
    compute = built.workspaces.compute as FargateWorkspaces;
  });

  it('has a cluster with Container Insights', () => {
    // Assess
    built.stateless.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterName: 'carrel-test-workspaces',
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
  });

  it('defines the base task: family carrel-<id>-ws, the home over EFS with transit encryption and IAM authorization', () => {
    // Assess
    built.stateless.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: 'carrel-test-ws',
      RequiresCompatibilities: ['FARGATE'],
      NetworkMode: 'awsvpc',
      Cpu: '1024',
      Memory: '4096',
      TaskRoleArn: { 'Fn::GetAtt': [logicalId(built.statelessStack, compute.taskRole), 'Arn'] },
      ExecutionRoleArn: { 'Fn::GetAtt': [logicalId(built.statelessStack, compute.executionRole), 'Arn'] },
      Volumes: Match.arrayWith([
        {
          Name: 'home',
          EFSVolumeConfiguration: {
            FilesystemId: Match.objectLike({ 'Fn::GetStackOutput': Match.objectLike({ OutputName: Match.stringLikeRegexp('HomesFileSystem') }) }),
            TransitEncryption: 'ENABLED',
            AuthorizationConfig: { IAM: 'ENABLED' },
          },
        },
      ]),
    });
  });

  it('runs the tool with the home and the gate with its port, a health check, a read-only root and the certificate from Secrets Manager', () => {
    // Prepare
    const [task] = Object.values(built.stateless.findResources('AWS::ECS::TaskDefinition'));
    const containers = task!.Properties.ContainerDefinitions as Array<Record<string, any>>;
    const tool = containers.find((c) => c.Name === 'tool')!;
    const gate = containers.find((c) => c.Name === 'gate')!;

    // Assess
    assert.deepEqual(containers.map((c) => c.Name).sort(), ['bootstrap', 'gate', 'ready', 'tool']);
    assert.equal(tool.Image, 'quay.io/jupyter/minimal-notebook:2025-01-06');
    assert.deepEqual(tool.MountPoints, [
      { ContainerPath: '/home/jovyan', ReadOnly: false, SourceVolume: 'home' },
      { ContainerPath: '/run/carrel/tool', ReadOnly: true, SourceVolume: 'tool-secrets' },
    ]);
    assert.equal(gate.Image, 'registry.example.org/carrel-gate:1.0.0');
    assert.deepEqual(gate.PortMappings, [{ ContainerPort: 443, Name: 'gate', Protocol: 'tcp' }]);
    assert.equal(gate.ReadonlyRootFilesystem, true);
    assert.deepEqual(gate.HealthCheck.Command.slice(0, 3), ['CMD', 'node', '-e']);
    assert.match(gate.HealthCheck.Command[3], /port:443,path:'\/__carrel\/health'/);
    assert.deepEqual([gate.HealthCheck.Interval, gate.HealthCheck.Retries, gate.HealthCheck.StartPeriod], [10, 3, 60]);
    assert.deepEqual(
      (gate.Secrets as Array<{ Name: string; ValueFrom: unknown }>).map((s) => [s.Name, JSON.stringify(s.ValueFrom).match(/:(certificate|privateKey)::/)?.[1]]),
      [
        [GATE_TLS_SECRET_VARIABLES.certificate, 'certificate'],
        [GATE_TLS_SECRET_VARIABLES.privateKey, 'privateKey'],
      ],
    );
    for (const container of containers) {
      assert.equal(container.Privileged, false, container.Name);
      assert.equal(container.LogConfiguration.LogDriver, 'awslogs', container.Name);
      for (const { Name, Value } of container.Environment ?? []) {
        assert.doesNotMatch(`${Name}=${JSON.stringify(Value)}`, /TOKEN=|KEY=|PRIVATE|SECRET/, `${container.Name}: no secret in the task definition`);
      }
    }
  });

  it('fetches the per-workspace settings with a bootstrap container that the gate and the tool wait for, sharing only what each needs', () => {
    // Prepare
    const [task] = Object.values(built.stateless.findResources('AWS::ECS::TaskDefinition'));
    const containers = task!.Properties.ContainerDefinitions as Array<Record<string, any>>;
    const byName = (name: string) => containers.find((c) => c.Name === name)!;
    const env = (name: string) => Object.fromEntries((byName(name).Environment ?? []).map((e: { Name: string; Value: unknown }) => [e.Name, e.Value]));
    const bootstrap = byName('bootstrap');

    // Assess
    assert.equal(bootstrap.Essential, false);
    assert.equal(bootstrap.Image, byName('gate').Image, 'the gate bundle, in bootstrap mode');
    assert.equal(bootstrap.User, '0');
    assert.equal(bootstrap.ReadonlyRootFilesystem, true);
    assert.equal(bootstrap.Secrets, undefined, 'no certificate');
    assert.deepEqual(env('bootstrap'), {
      CARREL_GATE_MODE: 'bootstrap',
      CARREL_GATE_BOOTSTRAP_URL: 'https://desk.uni.example/api/agent/bootstrap',
      CARREL_GATE_SERVER_ID: 'desk.uni.example',
      CARREL_GATE_STS_URL: { 'Fn::Join': ['', ['https://sts.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }, '/']] },
      CARREL_GATE_STS_REGION: { Ref: 'AWS::Region' },
      CARREL_GATE_SETTINGS_FILE: '/run/carrel/gate/settings.json',
      CARREL_GATE_TOOL_TOKEN_FILE: '/run/carrel/tool/token',
    });
    assert.deepEqual(bootstrap.MountPoints, [
      { ContainerPath: '/run/carrel/gate', ReadOnly: false, SourceVolume: 'gate-secrets' },
      { ContainerPath: '/run/carrel/tool', ReadOnly: false, SourceVolume: 'tool-secrets' },
    ]);
    for (const name of ['gate', 'tool']) assert.deepEqual(byName(name).DependsOn, [{ ContainerName: 'bootstrap', Condition: 'SUCCESS' }], name);
    assert.deepEqual(env('gate'), {
      CARREL_GATE_PORT: '443',
      CARREL_GATE_UPSTREAM: 'http://127.0.0.1:8888',
      CARREL_GATE_BUSY_PROBE: 'jupyter',
      CARREL_GATE_DESK_ORIGIN: 'https://desk.uni.example',
      CARREL_GATE_ACTIVITY_URL: 'https://desk.uni.example/api/agent/activity',
      CARREL_GATE_SETTINGS_FILE: '/run/carrel/gate/settings.json',
    });
    assert.deepEqual(env('tool'), { JUPYTER_TOKEN_FILE: '/run/carrel/tool/token' });
    const mounting = (volume: string) => containers.filter((c) => (c.MountPoints ?? []).some((m: { SourceVolume: string }) => m.SourceVolume === volume)).map((c) => c.Name).sort();
    assert.deepEqual(mounting('gate-secrets'), ['bootstrap', 'gate'], 'the agent token reaches the gate only');
    assert.deepEqual(mounting('tool-secrets'), ['bootstrap', 'tool']);
    assert.equal(byName('ready').MountPoints, undefined);
  });

  it('signals tool-ready with a non-essential `ready` container that starts once the gate is HEALTHY and exits 0', () => {
    // Prepare
    const [task] = Object.values(built.stateless.findResources('AWS::ECS::TaskDefinition'));
    const containers = task!.Properties.ContainerDefinitions as Array<Record<string, any>>;
    const ready = containers.find((c) => c.Name === ECS_READY_CONTAINER);
    const gate = containers.find((c) => c.Name === ECS_GATE_CONTAINER)!;

    // Assess: the container the event mapping reads (ECS sends container stops, not health changes)
    assert.ok(ready, `a container named ${ECS_READY_CONTAINER}`);
    assert.equal(ready.Essential, false, 'its exit must not stop the task');
    assert.deepEqual(ready.DependsOn, [{ ContainerName: ECS_GATE_CONTAINER, Condition: 'HEALTHY' }]);
    assert.ok(gate.HealthCheck, 'HEALTHY needs the gate health check');
    assert.equal(ready.Image, gate.Image, 'the gate image: node is there, nothing else to pull');
    assert.deepEqual([...ready.EntryPoint, ...ready.Command], ['node', '-e', '0'], 'exits 0 at once, whatever the image entry point');
    assert.deepEqual([ready.Cpu, ready.MemoryReservation, ready.Memory], [16, 64, undefined], 'minimal, and no hard limit that could kill node');
    assert.equal(ready.ReadonlyRootFilesystem, true);
    assert.equal(ready.Privileged, false);
    assert.equal(ready.Secrets, undefined, 'no certificate');
    assert.equal(ready.MountPoints, undefined, 'no home');
    assert.deepEqual(ready.LogConfiguration.Options['awslogs-stream-prefix'], 'ready');
  });

  it('gives the base task role nothing; bounds every home role to mounting homes through access points', () => {
    // Prepare
    const role = built.stateless.toJSON().Resources[logicalId(built.statelessStack, compute.taskRole)];
    const boundary = built.stateless.toJSON().Resources[logicalId(built.statelessStack, compute.homeRoleBoundary)];

    // Assess
    assert.equal(role.Properties.RoleName, 'carrel-test-ws-task');
    assert.deepEqual(role.Properties.AssumeRolePolicyDocument.Statement[0].Condition.StringEquals, { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
    assert.deepEqual(functionRoleStatements(built, compute.taskRole), [], 'each home’s task runs with its own role');
    assert.equal(boundary.Properties.ManagedPolicyName, 'carrel-test-ws-home-boundary');
    assert.equal(boundary.Properties.Path, '/carrel/test/');
    assert.deepEqual(
      (boundary.Properties.PolicyDocument.Statement as FullStatement[]).map((s) => [s.Effect, s.Action, s.Condition]),
      [
        [
          'Allow',
          ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
          { Bool: { 'elasticfilesystem:AccessedViaMountTarget': 'true' }, Null: { 'elasticfilesystem:AccessPointArn': 'false' } },
        ],
      ],
    );
  });

  it('lets only the launching function create home roles: on the deployment’s path, with the boundary, tagged as the deployment’s', () => {
    // Prepare
    const everything = ENTRY_NAMES.flatMap((name) => functionStatements(built, built.functions[name]));
    const homeRoles = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':role/carrel/test/homes/carrel-test-home-*']] };
    const boundary = { Ref: logicalId(built.statelessStack, compute.homeRoleBoundary) };
    const open = functionStatements(built, built.functions.open);

    // Assess
    for (const action of ['iam:CreateRole', 'iam:PutRolePolicy', 'iam:TagRole', 'iam:GetRole']) {
      const statements = allowing(everything, action);
      assert.equal(statements.length, 1, action);
      assert.deepEqual(resourcesOf(statements[0]!), [homeRoles], action);
      assert.ok(open.some((s) => JSON.stringify(s) === JSON.stringify(statements[0])), `${action}: the open function`);
    }
    assert.deepEqual(allowing(everything, 'iam:CreateRole')[0]!.Condition, { StringEquals: { 'iam:PermissionsBoundary': boundary } });
    assert.deepEqual(allowing(everything, 'iam:PutRolePolicy')[0]!.Condition, { StringEquals: { 'iam:PermissionsBoundary': boundary } });
    assert.deepEqual(allowing(everything, 'iam:TagRole')[0]!.Condition, {
      StringEquals: { 'aws:RequestTag/carrel:deployment': 'test' },
      'ForAllValues:StringEquals': { 'aws:TagKeys': ['carrel:deployment', 'carrel:analysis', 'carrel:user', 'carrel:home'] },
    });
    for (const action of ['iam:DeleteRolePermissionsBoundary', 'iam:PutRolePermissionsBoundary', 'iam:AttachRolePolicy', 'iam:UpdateAssumeRolePolicy']) {
      assert.equal(allowing(everything, action).length, 0, `${action} is never granted`);
    }
  });

  it('runs, stops and describes tasks of this cluster only, for the workspace families only', () => {
    // Prepare
    const everything = ENTRY_NAMES.flatMap((name) => functionStatements(built, built.functions[name]));
    const cluster = { ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [logicalId(built.statelessStack, compute.cluster), 'Arn'] } } };

    // Assess
    for (const action of ['ecs:RunTask', 'ecs:StopTask', 'ecs:DescribeTasks', 'ecs:ListTasks']) {
      const statements = allowing(everything, action);
      assert.ok(statements.length > 0, action);
      for (const statement of statements) assert.deepEqual(statement.Condition, cluster, action);
    }
    for (const statement of allowing(everything, 'ecs:RunTask')) {
      assert.deepEqual(
        resourcesOf(statement).map((r) => JSON.stringify(r).match(/task-definition\/([^"]+)"/)?.[1]).sort(),
        ['carrel-test-ws-*:*', 'carrel-test-ws:*'],
      );
    }
    const tagging = allowing(everything, 'ecs:TagResource');
    for (const statement of tagging) {
      assert.deepEqual(statement.Condition, {
        StringEquals: { 'ecs:CreateAction': ['RunTask', 'RegisterTaskDefinition'], 'aws:RequestTag/carrel:deployment': 'test' },
      });
    }
  });

  it('delivers only RUNNING and STOPPED of the tasks this deployment started in this cluster, and no EC2 rule', () => {
    // Prepare
    const rules = Object.values(built.stateless.findResources('AWS::Events::Rule')).filter((r) => r.Properties.EventPattern);

    // Assess: startedBy is the value FargateCompute runs tasks with (one definition for both)
    assert.deepEqual(
      rules.map((r) => r.Properties.EventPattern),
      [
        {
          source: ['aws.ecs'],
          'detail-type': ['ECS Task State Change'],
          detail: {
            clusterArn: [{ 'Fn::GetAtt': [logicalId(built.statelessStack, compute.cluster), 'Arn'] }],
            startedBy: [startedByFor('test')],
            lastStatus: ['RUNNING', 'STOPPED'],
          },
        },
      ],
    );
    assert.deepEqual(rules[0]!.Properties.Targets.map((t: { Arn: unknown }) => t.Arn), [
      { 'Fn::GetAtt': [logicalId(built.statelessStack, built.functions['compute-events']), 'Arn'] },
    ]);
    assert.ok(rules[0]!.Properties.Targets[0].DeadLetterConfig, 'undeliverable events are kept');
  });

  it('has no provisioner, no SSH key and no Lambda in the VPC', () => {
    // Assess
    assert.equal(built.workspaces.provisioner, undefined);
    assert.equal(built.workspaces.sshKeySecret, undefined);
    built.stateless.resourceCountIs('Custom::CarrelProvisionerKey', 0);
    for (const fn of Object.values(built.stateless.findResources('AWS::Lambda::Function'))) assert.equal(fn.Properties.VpcConfig, undefined);
  });
});

describe('AWS workspaces: computeKind none', () => {
  it('keeps the deployment as before: no network stack, no homes, no workspace compute', () => {
    // Act
    const app = buildTestApp({ config: { deploymentId: 'test' } });

    // Assess
    assert.equal(app.network, undefined);
    assert.equal(app.stateful.homes, undefined);
    assert.equal(app.stateless.workspaces, undefined);
    const stateful = Template.fromStack(app.stateful);
    stateful.resourceCountIs('AWS::EFS::FileSystem', 0);
    stateful.resourceCountIs('AWS::Backup::BackupPlan', 0);
  });
});

function functionRoleStatements(built: Built, role: iam.Role): FullStatement[] {
  const roleId = logicalId(built.statelessStack, role);
  return Object.values(built.stateless.findResources('AWS::IAM::Policy'))
    .filter((policy) => (policy.Properties.Roles as unknown[]).some((r) => JSON.stringify(r) === JSON.stringify({ Ref: roleId })))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as FullStatement[]);
}
