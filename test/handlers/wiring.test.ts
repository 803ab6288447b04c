import assert from 'node:assert/strict';
import { IAMClient } from '@aws-sdk/client-iam';
import { after, afterEach, describe, it } from 'node:test';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { ECSClient } from '@aws-sdk/client-ecs';
import { CreateAccessPointCommand, EFSClient } from '@aws-sdk/client-efs';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { ChangeResourceRecordSetsCommand, Route53Client } from '@aws-sdk/client-route-53';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoSpareStore } from '../../lambdas/adapters/aws/dynamo-spare-store.js';
import { Ec2Compute } from '../../lambdas/adapters/aws/ec2-compute.js';
import { FargateCompute, startedByFor } from '../../lambdas/adapters/aws/ecs-compute.js';
import { EfsHomes } from '../../lambdas/adapters/aws/efs-homes.js';
import { LambdaProvisioner } from '../../lambdas/adapters/aws/lambda-provisioner.js';
import { Route53Hostnames } from '../../lambdas/adapters/aws/route53-hostnames.js';
import { LocalKeySigner } from '../../lambdas/adapters/tokens.js';
import { buildAwsApp } from '../../lambdas/handlers/aws-wiring.js';
import { allWorkspaceParts, type AwsClients } from '../../lambdas/handlers/aws-parts/all.js';
import { ConfigError, loadConfig } from '../../lambdas/handlers/config.js';
import { makeComputeEventsHandler } from '../../lambdas/handlers/events.js';
import { NotWiredError, UnconfiguredCompute, UnconfiguredHomes, UnconfiguredHostnames } from '../../lambdas/handlers/unconfigured.js';
import { ec2Compute } from '../../lambdas/handlers/aws-parts/ec2-compute.js';
import { route53Hostnames } from '../../lambdas/handlers/aws-parts/hostnames.js';
import { makeWorkspace } from '../support/fakes.js';
import { TEST_ENV } from './support.js';

const BASE = { ...TEST_ENV, SIGNING_KEY_ID: undefined, SIGNING_KEY_PEM: LocalKeySigner.generatePem(), POWERTOOLS_LOG_LEVEL: 'SILENT' };
const SIZES = JSON.stringify({ small: { instanceTypes: ['t4g.medium', 't4g.large'], cpu: 1024, memoryMiB: 4096 } });
const COMMON = {
  WORKSPACE_SIZES: SIZES,
  WORKSPACE_SUBNET_IDS: 'subnet-0a1b2c3d4e5f60718,subnet-0f1e2d3c4b5a69788',
  WORKSPACE_SECURITY_GROUP_ID: 'sg-0123456789abcdef0',
  EFS_FILE_SYSTEM_ID: 'fs-0123456789abcdef0',
  HOSTED_ZONE_ID: 'Z0123456789ABCDEFGHIJ',
  HOSTNAME_TTL_SECONDS: '30',
  GATE_PORT: '8443',
  HOME_UID: '2001',
  HOME_GID: '2002',
};
const EC2_ENV = { ...BASE, ...COMMON, COMPUTE_KIND: 'ec2', LAUNCH_TEMPLATE_ID: 'lt-0123456789abcdef0', PROVISIONER_FUNCTION_NAME: 'carrel-test-provision' };
const FARGATE_ENV = {
  ...BASE,
  ...COMMON,
  COMPUTE_KIND: 'fargate',
  ECS_CLUSTER_ARN: 'arn:aws:ecs:eu-west-2:111122223333:cluster/carrel-test-workspaces',
  TASK_DEFINITION_ARN: 'arn:aws:ecs:eu-west-2:111122223333:task-definition/carrel-test-workspace:3',
};

// Every instance of these clients is mocked: any request the wiring made would be recorded (and none may be).
const ec2 = mockClient(EC2Client);
const efs = mockClient(EFSClient);
const lambda = mockClient(LambdaClient);
const route53 = mockClient(Route53Client);
const mocks = [ec2, mockClient(ECSClient), efs, lambda, route53];
const requests = () => mocks.reduce((n, mock) => n + mock.calls().length, 0);

/** Client factories that count what they create (region and credentials fixed: nothing reaches AWS). */
function countingClients() {
  const made: string[] = [];
  const config = { region: 'eu-west-2', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
  const make =
    <T>(name: string, create: () => T) =>
    () => {
      made.push(name);
      return create();
    };
  const clients: AwsClients = {
    ec2: make('ec2', () => new EC2Client(config)),
    ecs: make('ecs', () => new ECSClient(config)),
    efs: make('efs', () => new EFSClient(config)),
    route53: make('route53', () => new Route53Client(config)),
    lambda: make('lambda', () => new LambdaClient(config)),
    iam: make('iam', () => new IAMClient(config)),
  };
  return { clients: allWorkspaceParts(clients), made };
}

describe('AWS wiring', () => {
  afterEach(() => mocks.forEach((mock) => mock.reset()));
  after(() => mocks.forEach((mock) => mock.restore()));

  it('wires EC2 compute, EFS homes, Route 53 hostnames, the Lambda provisioner and the EC2 event lookup', () => {
    // Prepare
    const { clients } = countingClients();
    // Act
    const { deps } = buildAwsApp(loadConfig(EC2_ENV), clients);
    // Assess
    assert.ok(deps.compute instanceof Ec2Compute);
    assert.ok(deps.homes instanceof EfsHomes);
    assert.ok(deps.hostnames instanceof Route53Hostnames);
    assert.equal(deps.hostnames.deskDomain, 'app.test');
    assert.ok(deps.provisioner instanceof LambdaProvisioner);
    assert.equal(typeof deps.computeEventSources?.ec2?.lookup, 'function');
    assert.equal(deps.computeEventSources?.ecs, undefined);
    assert.equal(requests(), 0);
  });

  it('wires the warm pool (spare records on the table, the configured targets) only when WARM_POOL names spares', () => {
    // Act
    const pooled = buildAwsApp(loadConfig({ ...EC2_ENV, WARM_POOL: '{"small":2}', WARM_POOL_FOR_RESUME: 'false' }), countingClients().clients).deps;
    const plain = buildAwsApp(loadConfig(EC2_ENV), countingClients().clients).deps;
    // Assess
    assert.ok(pooled.pool?.store instanceof DynamoSpareStore);
    assert.deepEqual(pooled.pool?.policy.targets, { small: 2 });
    assert.equal(pooled.pool?.policy.forResume, false);
    assert.equal(pooled.pool?.policy.propagationMs, 60_000);
    assert.equal(plain.pool, undefined);
    assert.equal(requests(), 0);
  });

  it('wires Fargate compute with no provisioner, and the ECS event mapping for this deployment', () => {
    // Prepare
    const { clients } = countingClients();
    // Act
    const { deps } = buildAwsApp(loadConfig(FARGATE_ENV), clients);
    // Assess
    assert.ok(deps.compute instanceof FargateCompute);
    assert.equal(deps.compute.startedBy, startedByFor('test-deployment'));
    assert.ok(deps.homes instanceof EfsHomes);
    assert.ok(deps.hostnames instanceof Route53Hostnames);
    assert.equal(deps.provisioner, undefined);
    assert.deepEqual(deps.computeEventSources, { ecs: { deploymentId: 'test-deployment', gatePort: 8443, address: 'private' } });
    assert.equal(requests(), 0);
  });

  it('gives the Fargate mapping a public IP lookup when WORKSPACE_ADDRESS is public', () => {
    // Act
    const { deps } = buildAwsApp(loadConfig({ ...FARGATE_ENV, WORKSPACE_ADDRESS: 'public' }), countingClients().clients);
    // Assess
    assert.equal(deps.computeEventSources?.ecs?.address, 'public');
    assert.equal(typeof deps.computeEventSources?.ecs?.publicIp, 'function');
  });

  it('keeps the unconfigured stand-ins when COMPUTE_KIND, EFS_FILE_SYSTEM_ID and HOSTED_ZONE_ID are unset', () => {
    // Prepare
    const { clients, made } = countingClients();
    // Act
    const { deps } = buildAwsApp(loadConfig(BASE), clients);
    // Assess
    assert.ok(deps.compute instanceof UnconfiguredCompute);
    assert.ok(deps.homes instanceof UnconfiguredHomes);
    assert.ok(deps.hostnames instanceof UnconfiguredHostnames);
    assert.equal(deps.provisioner, undefined);
    assert.equal(deps.computeEventSources, undefined);
    assert.deepEqual(made, []);
  });

  it('wires no provisioner into the provisioner itself', () => {
    // Act
    const { deps } = buildAwsApp(
      loadConfig({ ...EC2_ENV, PROVISIONER_FUNCTION_NAME: undefined, PROVISIONER_SSH_KEY_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-2:111122223333:secret:carrel/provisioner-ssh-AbCdEf' }),
      countingClients().clients,
    );
    // Assess
    assert.ok(deps.compute instanceof Ec2Compute);
    assert.equal(deps.provisioner, undefined);
  });

  it('wires homes and hostnames on their own when only their settings are given', () => {
    // Act
    const { deps } = buildAwsApp(loadConfig({ ...BASE, EFS_FILE_SYSTEM_ID: 'fs-0123456789abcdef0', HOSTED_ZONE_ID: 'Z0123456789ABCDEFGHIJ' }), countingClients().clients);
    // Assess
    assert.ok(deps.compute instanceof UnconfiguredCompute);
    assert.ok(deps.homes instanceof EfsHomes);
    assert.ok(deps.hostnames instanceof Route53Hostnames);
  });

  it('builds only what a function touches, once', () => {
    // Prepare
    const { clients, made } = countingClients();
    // Act
    const { deps } = buildAwsApp(loadConfig(EC2_ENV), clients);
    const before = [...made];
    const hostnames = deps.hostnames;
    const again = deps.hostnames;
    // Assess
    assert.deepEqual(before, [], 'building the app creates no workspace client');
    assert.equal(hostnames, again);
    assert.deepEqual(made, ['route53']);
  });

  it('passes the settings through to the requests the adapters make', async () => {
    // Prepare
    const { deps } = buildAwsApp(loadConfig(EC2_ENV), countingClients().clients);
    route53.on(ChangeResourceRecordSetsCommand).resolves({ ChangeInfo: { Id: 'c', Status: 'PENDING', SubmittedAt: new Date() } });
    lambda.on(InvokeCommand).resolves({ StatusCode: 202 });
    efs.on(CreateAccessPointCommand).resolves({ AccessPointId: 'fsap-0123456789abcdef0' });
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-0a1b2c3d4e5f60718', PrivateIpAddress: '10.0.12.34', Tags: [{ Key: 'carrel:deployment', Value: 'test-deployment' }] }] }] });
    // Act
    await deps.hostnames.assign('ws-a1b2c3d4e5f6g7h8.app.test', '10.0.12.34:8443');
    await deps.provisioner?.provision(makeWorkspace('provisioning'));
    await deps.homes.ensure({ analysisId: 'demo', userId: 'alice' });
    const facts = await deps.computeEventSources?.ec2?.lookup('i-0a1b2c3d4e5f60718');
    // Assess
    const change = route53.commandCalls(ChangeResourceRecordSetsCommand)[0]!.args[0].input;
    assert.equal(change.HostedZoneId, 'Z0123456789ABCDEFGHIJ');
    assert.equal(change.ChangeBatch?.Changes?.[0]?.ResourceRecordSet?.TTL, 30);
    assert.equal(lambda.commandCalls(InvokeCommand)[0]!.args[0].input.FunctionName, 'carrel-test-provision');
    const accessPoint = efs.commandCalls(CreateAccessPointCommand)[0]!.args[0].input;
    assert.equal(accessPoint.FileSystemId, 'fs-0123456789abcdef0');
    assert.deepEqual(accessPoint.PosixUser, { Uid: 2001, Gid: 2002 });
    assert.deepEqual(facts, { address: '10.0.12.34:8443', tags: { 'carrel:deployment': 'test-deployment' } });
  });

  it('lets the compute-events handler map a raw EC2 event with the wired lookup', async () => {
    // Prepare
    const { deps } = buildAwsApp(loadConfig(EC2_ENV), countingClients().clients);
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    // Act
    const outcome = await makeComputeEventsHandler(deps)({ source: 'aws.ec2', 'detail-type': 'EC2 Instance State-change Notification', detail: { 'instance-id': 'i-0a1b2c3d4e5f60718', state: 'running' } });
    // Assess
    assert.deepEqual(outcome, { applied: false, note: 'EC2 Instance State-change Notification ignored' });
    assert.deepEqual(ec2.commandCalls(DescribeInstancesCommand)[0]!.args[0].input.Filters, [{ Name: 'tag:carrel:deployment', Values: ['test-deployment'] }]);
  });

  it('fails, naming the part and where to wire it, when a function uses a configured part its kit leaves out', async () => {
    // Prepare: the hostnames only, like a function whose entry point wires route53Hostnames alone.
    const { clients, made } = countingClients();
    const { deps } = buildAwsApp(loadConfig(EC2_ENV), { hostnames: clients.hostnames });
    // Act / Assess
    const notWired = (part: string) => (error: unknown) => error instanceof NotWiredError && error.message.startsWith(`${part} is not wired into this function`) && /lambdas\/handlers\/entry/.test(error.message);
    await assert.rejects(deps.compute.launch({} as never), notWired('compute'));
    await assert.rejects(deps.compute.listTagged(), notWired('compute'));
    await assert.rejects(deps.homes.ensure({ analysisId: 'demo', userId: 'alice' }), notWired('homes'));
    await assert.rejects(deps.provisioner!.provision(makeWorkspace('provisioning')), notWired('provisioner'));
    assert.equal(deps.computeEventSources, undefined);
    assert.ok(deps.hostnames instanceof Route53Hostnames);
    assert.deepEqual(made, ['route53']);
    assert.equal(requests(), 0);
  });

  it('wires nothing but records and signing for a function with an empty kit (status, heartbeat, me, agent activity)', async () => {
    // Act
    const { deps } = buildAwsApp(loadConfig(FARGATE_ENV));
    // Assess: the parts are there for the use cases' types, but none can reach AWS.
    await assert.rejects(deps.compute.stop('arn:aws:ecs:eu-west-2:111122223333:task/c/1'), NotWiredError);
    await assert.rejects(deps.hostnames.release('ws-a1b2c3d4e5f6g7h8.app.test'), NotWiredError);
    assert.equal(deps.hostnames.deskDomain, 'app.test');
    assert.equal(requests(), 0);
  });

  it("lets the provisioner's EC2-only compute refuse a Fargate deployment by name", () => {
    // Prepare
    const { deps } = buildAwsApp(loadConfig(FARGATE_ENV), { compute: ec2Compute(() => new EC2Client({ region: 'eu-west-2' })) });
    // Act / Assess
    assert.throws(() => deps.compute, /this function serves EC2 compute only \(COMPUTE_KIND is fargate\)/);
  });

  it('keeps the unconfigured stand-in (naming the setting) over a kit that wires the part', async () => {
    // Act
    const { deps } = buildAwsApp(loadConfig(BASE), { hostnames: route53Hostnames(() => new Route53Client({ region: 'eu-west-2' })) });
    // Assess
    await assert.rejects(deps.hostnames.assign('ws-a1b2c3d4e5f6g7h8.app.test', '10.0.0.1'), /HOSTED_ZONE_ID is not set/);
  });

  for (const [kind, complete, settings] of [
    ['ec2', EC2_ENV, ['WORKSPACE_SIZES', 'WORKSPACE_SUBNET_IDS', 'WORKSPACE_SECURITY_GROUP_ID', 'LAUNCH_TEMPLATE_ID', 'EFS_FILE_SYSTEM_ID', 'HOSTED_ZONE_ID', 'PROVISIONER_FUNCTION_NAME']],
    ['fargate', FARGATE_ENV, ['WORKSPACE_SIZES', 'WORKSPACE_SUBNET_IDS', 'WORKSPACE_SECURITY_GROUP_ID', 'ECS_CLUSTER_ARN', 'TASK_DEFINITION_ARN', 'EFS_FILE_SYSTEM_ID', 'HOSTED_ZONE_ID']],
  ] as const) {
    it(`refuses to wire ${kind} compute without its settings, naming each`, () => {
      // Prepare
      const env: Record<string, string | undefined> = { ...complete };
      for (const setting of settings) env[setting] = undefined;
      // Act / Assess
      assert.throws(
        () => buildAwsApp(loadConfig(env), countingClients().clients),
        (error) => error instanceof ConfigError && settings.every((setting) => error.issues.includes(`${setting} is required when COMPUTE_KIND is ${kind}`)),
      );
    });
  }
});
