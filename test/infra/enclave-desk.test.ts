/**
 * The desk's side of the enclave on AWS (lib/constructs/enclave-desk.ts): the run routes' functions and their
 * least-privilege roles and the API routes; and the home snapshot (lib/constructs/home-snapshot.ts, the state
 * machine's ArchiveHome step): its read-only mount of the homes (one access point, ClientMount only), its role,
 * its network and the homes' file-system policy. Template assertions.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Template } from 'aws-cdk-lib/assertions';
import { RUN_FUNCTION_SPECS } from '../../lib/constructs/enclave-desk.js';
import { RUN_ENTRIES } from '../../lambdas/handlers/routes.js';
import { DESK_ROUTES } from '../../lib/constructs/desk-api.js';
import { actionsOf, buildTestApp, FARGATE_CONFIG, resourcesOf, type Statement } from './support.js';

const SNAPSHOT_FN = /^EnclaveHomeSnapshotFunction[0-9A-F]{8}$/;
const ENCLAVE = { enabled: true, mailFrom: 'enclave@uni.example', dataset: { bucketArn: 'arn:aws:s3:::research-data', prefix: 'cohort/' } };

type Resource = { Type: string; Properties: Record<string, any> };
let resources: Record<string, Resource>;
let stateful: Record<string, Resource>;
let plainResources: Record<string, Resource>;

const ofType = (from: Record<string, Resource>, type: string) => Object.entries(from).filter(([, r]) => r.Type === type);
const one = (type: string, pattern: RegExp, from = resources) => {
  const found = ofType(from, type).filter(([id]) => pattern.test(id));
  assert.equal(found.length, 1, `one ${type} matching ${pattern}, found ${found.map(([id]) => id).join(', ')}`);
  return found[0]!;
};
function statementsOf(roleId: string, from = resources): (Statement & { Condition?: any })[] {
  return ofType(from, 'AWS::IAM::Policy')
    .filter(([, p]) => (p.Properties.Roles as unknown[]).some((r) => JSON.stringify(r) === JSON.stringify({ Ref: roleId })))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
}
const pascal = (name: string) => name.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase());
const roleOf = (fnId: string, from = resources) => (from[fnId]!.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
const fnId = (entry: string, from = resources) => one('AWS::Lambda::Function', new RegExp(`^EnclaveDesk${pascal(entry)}[0-9A-F]{8}$`), from)[0];
/** Every (action, resource) the role is allowed, as strings. */
const allowed = (roleId: string, from = resources) =>
  statementsOf(roleId, from)
    .filter((s) => s.Effect === 'Allow')
    .flatMap((s) => actionsOf(s).flatMap((a) => resourcesOf(s).map((r) => ({ action: a, resource: JSON.stringify(r), condition: s.Condition }))));

before(() => {
  const app = buildTestApp({ config: { ...FARGATE_CONFIG, enclave: ENCLAVE } });
  resources = Template.fromStack(app.stateless).toJSON().Resources;
  stateful = Template.fromStack(app.stateful).toJSON().Resources;
  plainResources = Template.fromStack(buildTestApp({ config: { deploymentId: 'test', enclave: ENCLAVE } }).stateless).toJSON().Resources;
});

describe('the run routes on AWS', () => {
  it('routes every run route of routes.ts to its own function', () => {
    // Prepare
    const routes = ofType(resources, 'AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties);
    const integrations = Object.fromEntries(ofType(resources, 'AWS::ApiGatewayV2::Integration'));
    // Assess
    for (const route of DESK_ROUTES.filter((r) => (RUN_ENTRIES as readonly string[]).includes(r.entry))) {
      const found = routes.find((r) => r.RouteKey === `${route.method} ${route.path}`);
      assert.ok(found, `${route.method} ${route.path} is deployed`);
      const integration = integrations[(found.Target['Fn::Join'][1] as { Ref: string }[])[1]!.Ref]!;
      assert.deepEqual(integration.Properties.IntegrationUri, { 'Fn::GetAtt': [fnId(route.entry), 'Arn'] }, route.path);
    }
  });

  it('gives no run function a wildcard action, PutObject, or another bucket', () => {
    for (const entry of RUN_ENTRIES) {
      const grants = allowed(roleOf(fnId(entry)));
      assert.ok(grants.every((g) => !g.action.includes('*')), `${entry}: ${grants.map((g) => g.action).join(', ')}`);
      assert.ok(!grants.some((g) => g.action === 's3:PutObject'), `${entry} writes no object (the archive step does)`);
      for (const g of grants.filter((x) => x.action === 's3:GetObject')) assert.match(g.resource, /EnclaveRunObjects.*\/runs\/\*\/\*\//, entry);
    }
  });

  it('lets only submit start executions, none invoke a function, only decide complete review steps, only the queue read the byReview index', () => {
    // Prepare
    const machine = JSON.stringify({ Ref: one('AWS::StepFunctions::StateMachine', /.*/)[0] });
    for (const entry of RUN_ENTRIES) {
      const grants = allowed(roleOf(fnId(entry)));
      const has = (action: string) => grants.filter((g) => g.action === action);
      // Assess
      assert.deepEqual(has('states:StartExecution').map((g) => g.resource), entry === 'submit-run' ? [machine] : [], entry);
      assert.deepEqual(has('lambda:InvokeFunction'), [], `${entry}: the desk archives nothing (the state machine's first step does)`);
      assert.deepEqual(has('states:SendTaskSuccess').map((g) => g.resource), entry === 'decide-run' ? [machine] : [], entry);
      assert.deepEqual(has('states:SendTaskFailure').map((g) => g.resource), entry === 'decide-run' ? [machine] : [], entry);
      const indexQueries = grants.filter((g) => g.action === 'dynamodb:Query' && g.resource.includes('/index/'));
      assert.deepEqual(indexQueries.map((g) => /byReview/.test(g.resource)), entry === 'review-queue' ? [true] : [], entry);
      // Reads exactly the run objects of its spec.
      const files = has('s3:GetObject').map((g) => /\/runs\/\*\/\*\/([^"]+)"/.exec(g.resource)![1]).sort();
      const expected = { archive: 'home.tar.gz', manifest: 'manifest.json', outputs: 'outputs.tar.gz', outputsManifest: 'outputs.manifest.json' };
      assert.deepEqual(files, (RUN_FUNCTION_SPECS[entry].read ?? []).map((f) => expected[f]).sort(), entry);
      // Object versions of the collected outputs only (read and linked at the version the run pinned), as the spec says.
      const versions = has('s3:GetObjectVersion').map((g) => /\/runs\/\*\/\*\/([^"]+)"/.exec(g.resource)![1]).sort();
      assert.deepEqual(versions, (RUN_FUNCTION_SPECS[entry].versions ?? []).map((f) => expected[f]).sort(), entry);
      assert.ok(versions.every((file) => file.startsWith('outputs')), entry);
      if (entry === 'download-run') assert.deepEqual(versions, ['outputs.tar.gz'], 'the download links the pinned archive version');
    }
  });

  it('tells submit the state machine only, and answers well within the HTTP API limit', () => {
    // Prepare
    const env = resources[fnId('submit-run')]!.Properties.Environment.Variables;
    // Assess
    assert.deepEqual(env.STATE_MACHINE_ARN, { Ref: one('AWS::StepFunctions::StateMachine', /.*/)[0] });
    assert.equal(env.HOME_SNAPSHOT_FUNCTION, undefined);
    assert.ok(resources[fnId('submit-run')]!.Properties.Timeout < 30);
  });

  it('without AWS workspaces: the archive step runs outside any VPC with no mount and no access point (every submission fails: no home)', () => {
    // Prepare
    const [fnLogical, fn] = one('AWS::Lambda::Function', SNAPSHOT_FN, plainResources);
    // Assess
    assert.equal(ofType(plainResources, 'AWS::EFS::AccessPoint').length, 0);
    assert.equal(fn.Properties.VpcConfig, undefined);
    assert.equal(fn.Properties.FileSystemConfigs, undefined);
    assert.equal(fn.Properties.Environment.Variables.HOMES_MOUNT, undefined);
    assert.ok(!allowed(roleOf(fnLogical, plainResources), plainResources).some((g) => g.action.startsWith('elasticfilesystem:') || g.action.startsWith('dynamodb:')));
  });
});

describe('the home snapshot (ArchiveHome)', () => {
  it('mounts the homes through exactly one access point: root /homes, as the homes owner', () => {
    // Prepare
    const [apId, ap] = one('AWS::EFS::AccessPoint', /^EnclaveHomeSnapshotHomesReader/);
    const [, fn] = one('AWS::Lambda::Function', SNAPSHOT_FN);
    // Assess
    assert.equal(ap.Properties.RootDirectory.Path, '/homes');
    assert.deepEqual(ap.Properties.PosixUser, { Uid: '1000', Gid: '1000' });
    const mounts = fn.Properties.FileSystemConfigs as { Arn: unknown; LocalMountPath: string }[];
    assert.equal(mounts.length, 1);
    assert.equal(mounts[0]!.LocalMountPath, '/mnt/homes');
    assert.match(JSON.stringify(mounts[0]!.Arn), new RegExp(`access-point/"?,?\\{"Ref":"${apId}"\\}`));
    assert.equal(fn.Properties.Environment.Variables.HOMES_MOUNT, '/mnt/homes');
  });

  it('is invoked by the state machine only (no other principal may invoke it)', () => {
    // Prepare
    const [fnLogical] = one('AWS::Lambda::Function', SNAPSHOT_FN);
    const invokers = ofType(resources, 'AWS::IAM::Policy')
      .filter(([, p]) => (p.Properties.PolicyDocument.Statement as Statement[]).some((st) => actionsOf(st).includes('lambda:InvokeFunction') && JSON.stringify(resourcesOf(st)).includes(fnLogical)))
      .flatMap(([, p]) => (p.Properties.Roles as { Ref: string }[]).map((r) => r.Ref));
    const machineRole = (one('AWS::StepFunctions::StateMachine', /.*/)[1].Properties.RoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    // Assess
    assert.deepEqual(invokers, [machineRole]);
    assert.equal(ofType(resources, 'AWS::Lambda::Permission').filter(([, p]) => JSON.stringify(p.Properties.FunctionName).includes(fnLogical)).length, 0);
  });

  it('its role may ClientMount that access point only (no ClientWrite, no root), and create (or read back) only submission archives and manifests', () => {
    // Prepare
    const [fnLogical, fn] = one('AWS::Lambda::Function', SNAPSHOT_FN);
    const roleId = roleOf(fnLogical);
    const [apId] = one('AWS::EFS::AccessPoint', /^EnclaveHomeSnapshotHomesReader/);
    const grants = allowed(roleId);
    // Assess
    assert.equal(resources[roleId]!.Properties.RoleName, 'carrel-test-home-snapshot');
    const efs = grants.filter((g) => g.action.startsWith('elasticfilesystem:'));
    assert.deepEqual(efs.map((g) => g.action), ['elasticfilesystem:ClientMount']);
    assert.match(JSON.stringify(efs[0]!.condition.StringEquals['elasticfilesystem:AccessPointArn']), new RegExp(apId));
    const s3 = grants.filter((g) => g.action.startsWith('s3:'));
    // Read back only to adopt what an earlier attempt of the step stored (a retried ArchiveHome).
    assert.deepEqual(s3.map((g) => g.action).sort(), ['s3:GetObject', 's3:GetObject', 's3:GetObjectVersion', 's3:GetObjectVersion', 's3:PutObject', 's3:PutObject']);
    assert.deepEqual([...new Set(s3.map((g) => /runs\/\*\/\*\/([^"]+)"/.exec(g.resource)![1]))].sort(), ['home.tar.gz', 'manifest.json']);
    assert.deepEqual(grants.filter((g) => g.action.startsWith('kms:')).map((g) => g.action).sort(), ['kms:Decrypt', 'kms:GenerateDataKey']);
    assert.ok(!grants.some((g) => g.action.startsWith('dynamodb:') || g.action.startsWith('states:') || g.action.startsWith('lambda:')), 'no table, no state machine');
    assert.ok(grants.every((g) => !g.action.includes('*')));
    assert.equal(fn.Properties.Timeout, 900, "Lambda's ceiling: a large home takes minutes");
    assert.ok(fn.Properties.MemorySize >= 2048);
    assert.deepEqual(fn.Properties.EphemeralStorage, { Size: 10_240 });
  });

  it('reaches NFS on the homes and S3 through the gateway endpoint, nothing else', () => {
    // Prepare
    const [sgId, sg] = one('AWS::EC2::SecurityGroup', /^EnclaveHomeSnapshotSecurityGroup/);
    const egress = ofType(resources, 'AWS::EC2::SecurityGroupEgress').filter(([, r]) => JSON.stringify(r.Properties.GroupId).includes(sgId));
    // Assess
    assert.equal(sg.Properties.SecurityGroupEgress?.length ?? 0, 0);
    assert.deepEqual(egress.map(([, r]) => [r.Properties.FromPort, r.Properties.ToPort, r.Properties.DestinationPrefixListId ? 'prefix-list' : 'group']).sort(), [
      [2049, 2049, 'group'],
      [443, 443, 'prefix-list'],
    ]);
    const [, ingress] = one('AWS::EC2::SecurityGroupIngress', /^EnclaveHomeSnapshotHomesFromSnapshot/);
    assert.equal(ingress.Properties.FromPort, 2049);
    assert.deepEqual(ingress.Properties.SourceSecurityGroupId, { 'Fn::GetAtt': [sgId, 'GroupId'] });
  });

  it("the homes' file-system policy lets its role mount through an access point and denies it writing and root", () => {
    // Prepare
    const [, fs] = one('AWS::EFS::FileSystem', /.*/, stateful);
    const statements = fs.Properties.FileSystemPolicy.Statement as (Statement & { Sid: string; Condition: any })[];
    const bySid = (sid: string) => statements.find((s) => s.Sid === sid)!;
    const names = (s: Statement & { Condition: any }, op: string) => JSON.stringify(s.Condition[op]['aws:PrincipalArn']);
    // Assess
    const deny = bySid('DenyReadOnlyRolesWriteAndRoot');
    assert.equal(deny.Effect, 'Deny');
    assert.deepEqual(actionsOf(deny).sort(), ['elasticfilesystem:ClientRootAccess', 'elasticfilesystem:ClientWrite']);
    assert.match(names(deny, 'ArnLike'), /role\/carrel-test-home-snapshot/);
    const allow = bySid('AllowReadOnlyRolesMountThroughAccessPoints');
    assert.deepEqual(actionsOf(allow), ['elasticfilesystem:ClientMount']);
    assert.deepEqual(allow.Condition.Null, { 'elasticfilesystem:AccessPointArn': 'false' });
    assert.doesNotMatch(names(bySid('AllowWorkspaceRolesThroughAccessPoints'), 'ArnLike'), /home-snapshot/);
    assert.match(names(bySid('DenyExceptWorkspaceRoles'), 'ArnNotLike'), /role\/carrel-test-home-snapshot/);
  });
});
