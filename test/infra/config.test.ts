import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { CarrelConfigError, loadConfig, parseConfig } from '../../lib/config.js';

const context = (values: Record<string, unknown>) => ({ tryGetContext: (key: string) => values[key] });

describe('deployment configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'carrel-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('has defaults that synthesize offline', () => {
    // Act
    const config = loadConfig(context({}));

    // Assess
    assert.equal(config.deploymentId, 'carrel');
    assert.equal(config.deskDomain, 'desk.example.org');
    assert.deepEqual(config.idle, { timeoutSeconds: 1800, warningSeconds: 60, stoppedRetentionHours: 168 });
    assert.deepEqual(config.tokens, { gateCookieTtlSeconds: 900, agentTokenTtlSeconds: 2_592_000, heartbeatSeconds: 60 });
    assert.equal(config.oidc.rolesClaim, 'groups');
    assert.equal(config.oidc.sessionCookie, '__Host-carrel_session');
    assert.equal(config.certificateArn, undefined);
    assert.equal(config.hostedZone, undefined);
    assert.deepEqual(config.allowedCidrs, []);
    assert.ok(config.instanceSizes.small);
  });

  it('defaults to no AWS workspaces, with settings ready for them', () => {
    // Act
    const config = loadConfig(context({}));

    // Assess
    assert.equal(config.computeKind, 'none');
    assert.equal(config.workspaceAddress, 'private');
    assert.equal(config.gatePort, 443);
    assert.equal(config.hibernate, false);
    assert.deepEqual(config.instanceSizes.small, { instanceTypes: ['t4g.medium', 't4g.large'], cpu: 1024, memoryMiB: 4096 });
    assert.deepEqual(config.homes, { uid: 1000, gid: 1000, throughputMode: 'elastic', transitionToIADays: 30 });
    assert.deepEqual(config.vpc, { cidr: '10.40.0.0/16', maxAzs: 2, natGateways: 1, flowLogRetentionDays: 365 });
    assert.deepEqual(config.backup, { schedule: 'cron(0 3 * * ? *)', retentionDays: 35 });
  });

  it('accepts EC2 and Fargate workspaces with what they need', () => {
    // Prepare
    const hostedZone = { zoneId: 'Z0123456789ABCDEFGHIJ', zoneName: 'example.org' };

    // Act
    const ec2 = parseConfig({ computeKind: 'ec2', hostedZone, workspaceImageId: '/carrel/images/workspace', hibernate: true, allowedCidrs: ['2001:db8::/32'] });
    const fargate = parseConfig({
      computeKind: 'fargate',
      hostedZone,
      workspaceAddress: 'public',
      fargate: { toolImage: 'quay.io/jupyter/minimal-notebook:2025-01-06', gateImage: '123456789012.dkr.ecr.eu-west-2.amazonaws.com/carrel-gate@sha256:' + 'a'.repeat(64) },
    });

    // Assess
    assert.equal(ec2.workspaceImageId, '/carrel/images/workspace');
    assert.equal(fargate.fargate.architecture, 'arm64');
  });

  const hostedZone = { zoneId: 'Z0123456789ABCDEFGHIJ', zoneName: 'example.org' };
  const fargateImages = { toolImage: 'quay.io/jupyter/minimal-notebook:2025-01-06', gateImage: 'registry.example.org/gate:1' };
  const badWorkspaces: Array<[string, unknown, RegExp]> = [
    ['EC2 without a zone or an image', { computeKind: 'ec2' }, /hostedZone: is required with computeKind ec2.*workspaceImageId: is required with computeKind ec2/],
    ['a malformed image id', { computeKind: 'ec2', hostedZone, workspaceImageId: 'ubuntu' }, /workspaceImageId: must be an AMI id/],
    ['Fargate without images', { computeKind: 'fargate', hostedZone }, /fargate\.toolImage: is required.*fargate\.gateImage: is required/],
    ['an image without a tag', { computeKind: 'fargate', hostedZone, fargate: { ...fargateImages, gateImage: 'registry.example.org/gate' } }, /fargate\.gateImage: must be an image with a tag or digest/],
    [
      'a Fargate size without CPU and memory',
      { computeKind: 'fargate', hostedZone, fargate: fargateImages, instanceSizes: { small: { instanceTypes: ['t4g.large'] } } },
      /instanceSizes\.small: needs cpu and memoryMiB with computeKind fargate/,
    ],
    ['an invalid Fargate memory', { instanceSizes: { small: { instanceTypes: ['t4g.large'], cpu: 1024, memoryMiB: 1000 } } }, /instanceSizes\.small\.memoryMiB: must be 2048-8192 MiB/],
    ['hibernating Fargate tasks', { computeKind: 'fargate', hostedZone, fargate: fargateImages, hibernate: true }, /hibernate: applies to computeKind ec2 only/],
    ['a warm pool of an unknown size', { ec2: { warmPool: { sizes: { huge: 1 } } } }, /ec2\.warmPool\.sizes\.huge: is not one of instanceSizes/],
    ['a warm pool of Fargate tasks', { computeKind: 'fargate', hostedZone, fargate: fargateImages, ec2: { warmPool: { sizes: { small: 1 } } } }, /ec2\.warmPool\.sizes\.small: applies to computeKind ec2 only/],
    ['a warm pool too large', { ec2: { warmPool: { sizes: { small: 51 } } } }, /ec2\.warmPool\.sizes\.small: must be at most 50/],
    ['the whole internet', { allowedCidrs: ['0.0.0.0/0'] }, /allowedCidrs\.0: must not open workspaces to the whole internet/],
    ['the gate on the SSH port', { computeKind: 'ec2', hostedZone, workspaceImageId: 'ami-0123456789abcdef0', gatePort: 22 }, /gatePort: must not be 22/],
    ['a system uid', { homes: { uid: 0 } }, /homes\.uid: must be at least 1000/],
    ['more NAT gateways than zones', { vpc: { natGateways: 3 } }, /vpc\.natGateways: must be at most vpc\.maxAzs \(2\)/],
    ['one zone', { vpc: { maxAzs: 1 } }, /vpc\.maxAzs: must be at least 2/],
    ['an existing VPC without its subnets', { vpc: { vpcId: 'vpc-0123456789abcdef0' } }, /vpc\.availabilityZones: must list at least two zones.*vpc\.privateSubnetIds: must list one private subnet per zone/],
    [
      'public workspaces in an existing VPC without public subnets',
      {
        workspaceAddress: 'public',
        vpc: { vpcId: 'vpc-0123456789abcdef0', availabilityZones: ['eu-west-2a', 'eu-west-2b'], privateSubnetIds: ['subnet-0000000000000000a', 'subnet-0000000000000000b'] },
      },
      /vpc\.publicSubnetIds: must list one public subnet per zone/,
    ],
    ['subnets without an existing VPC', { vpc: { privateSubnetIds: ['subnet-0000000000000000a'] } }, /vpc\.privateSubnetIds: applies only with vpc\.vpcId/],
    ['a backup schedule that is not cron', { backup: { schedule: 'daily' } }, /backup\.schedule: must be an AWS cron expression/],
    ['an unsupported IA transition', { homes: { transitionToIADays: 45 } }, /homes\.transitionToIADays: must be one of 1, 7, 14, 30/],
    ['a misspelt VPC setting', { vpc: { natGateway: 2 } }, /vpc\.natGateway: is not a known setting/],
  ];
  for (const [what, raw, message] of badWorkspaces) {
    it(`refuses ${what}, naming the setting`, () => {
      // Act / Assess
      assert.throws(() => parseConfig(raw), (error) => error instanceof CarrelConfigError && message.test(error.message));
    });
  }

  it('reads a JSON file named by context carrelConfig, overlaid by context carrel', () => {
    // Prepare
    const file = join(dir, 'prod.json');
    writeFileSync(
      file,
      JSON.stringify({ deploymentId: 'prod', deskDomain: 'desk.uni.example', oidc: { issuer: 'https://sso.uni.example', audience: 'carrel-prod' } }),
    );

    // Act
    const config = loadConfig(context({ carrelConfig: file, carrel: JSON.stringify({ oidc: { audience: 'override' }, idle: { timeoutSeconds: 3600 } }) }));

    // Assess
    assert.equal(config.deploymentId, 'prod');
    assert.equal(config.deskDomain, 'desk.uni.example');
    assert.equal(config.oidc.issuer, 'https://sso.uni.example');
    assert.equal(config.oidc.audience, 'override');
    assert.equal(config.idle.timeoutSeconds, 3600);
    assert.equal(config.idle.warningSeconds, 60);
  });

  it('configures the identity provider: client id (default: the former audience), optional client secret ARN, session length', () => {
    // Act
    const defaults = parseConfig({});
    const configured = parseConfig({
      oidc: {
        issuer: 'https://login.uni.example/realms/research',
        clientId: 'carrel-prod',
        clientSecretArn: 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:carrel/oidc-client-AbCdEf',
        scopes: ['profile', 'groups'],
        sessionTtlSeconds: 43_200,
      },
    });
    const legacy = parseConfig({ oidc: { audience: 'carrel-legacy', jwksUrl: 'https://idp.example.org/jwks' } });

    // Assess
    assert.equal(defaults.oidc.clientId, 'carrel');
    assert.equal(defaults.oidc.clientSecretArn, undefined);
    assert.deepEqual(defaults.oidc.scopes, ['profile']);
    assert.equal(defaults.oidc.sessionTtlSeconds, 28_800);
    assert.equal(configured.oidc.clientId, 'carrel-prod');
    assert.equal(configured.oidc.clientSecretArn, 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:carrel/oidc-client-AbCdEf');
    assert.deepEqual(configured.oidc.scopes, ['profile', 'groups']);
    assert.equal(legacy.oidc.clientId, 'carrel-legacy');
  });

  it('accepts context carrel as an object (cdk.json)', () => {
    // Act
    const config = loadConfig(context({ carrel: { deploymentId: 'dev', logRetentionDays: 30 } }));

    // Assess
    assert.equal(config.deploymentId, 'dev');
    assert.equal(config.logRetentionDays, 30);
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['a malformed desk domain', { deskDomain: 'not a domain' }, /deskDomain: must be a DNS name/],
    ['a non-https issuer', { oidc: { issuer: 'http://idp.example.org' } }, /oidc\.issuer: must be an https:\/\/ URL/],
    ['a certificate outside us-east-1', { certificateArn: 'arn:aws:acm:eu-west-2:123456789012:certificate/12345678-1234-1234-1234-123456789012' }, /certificateArn: .*us-east-1/],
    ['a warning longer than the timeout', { idle: { timeoutSeconds: 120, warningSeconds: 300 } }, /idle\.warningSeconds: must be shorter than idle\.timeoutSeconds/],
    ['a misspelt setting', { deskDomian: 'desk.example.org' }, /deskDomian: is not a known setting/],
    ['an unsupported log retention', { logRetentionDays: 42 }, /logRetentionDays: must be one of/],
    ['a bad CIDR', { allowedCidrs: ['10.0.0.0/33'] }, /allowedCidrs\.0: must be a CIDR block/],
    ['a zone that does not hold the desk', { deskDomain: 'desk.uni.example', hostedZone: { zoneId: 'Z0123456789ABCDEFGHIJ', zoneName: 'other.example' } }, /hostedZone\.zoneName: must be deskDomain/],
    ['an upper-case deployment id', { deploymentId: 'Prod' }, /deploymentId: must be 1-24 lower-case/],
    ['a client secret that is not a secret ARN', { oidc: { clientSecretArn: 'my-client-secret' } }, /oidc\.clientSecretArn: must be the complete ARN of a Secrets Manager secret/],
    ['a client secret ARN without its suffix', { oidc: { clientSecretArn: 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:carrel/oidc' } }, /oidc\.clientSecretArn: .*6-character suffix/],
    ['an empty client id', { oidc: { clientId: '' } }, /oidc\.clientId: must not be empty/],
    ['a session longer than a week', { oidc: { sessionTtlSeconds: 700_000 } }, /oidc\.sessionTtlSeconds: must be at most 604800/],
    ['a scope with a space', { oidc: { scopes: ['groups email'] } }, /oidc\.scopes\.0: must be a scope name/],
  ];
  for (const [what, raw, message] of bad) {
    it(`refuses ${what}, naming the setting`, () => {
      // Act / Assess
      assert.throws(() => parseConfig(raw), (error) => error instanceof CarrelConfigError && message.test(error.message));
    });
  }

  it('says where a bad setting came from', () => {
    // Prepare
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ tokens: { heartbeatSeconds: 2 } }));

    // Act / Assess
    assert.throws(
      () => loadConfig(context({ carrelConfig: file })),
      (error) => error instanceof CarrelConfigError && error.message.includes(file) && /tokens\.heartbeatSeconds: must be at least 5/.test(error.message),
    );
  });

  it('explains a missing file and malformed JSON', () => {
    // Prepare
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{ "deploymentId": ');

    // Act / Assess
    assert.throws(() => loadConfig(context({ carrelConfig: join(dir, 'missing.json') })), /Cannot read the carrel configuration file .*missing\.json/);
    assert.throws(() => loadConfig(context({ carrelConfig: broken })), /not valid JSON/);
    assert.throws(() => loadConfig(context({ carrel: '[1,2]' })), /must be a JSON object/);
  });

  it('stops `cdk synth` with the message, naming the setting (bin/carrel.ts)', () => {
    // Prepare
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const env = { ...process.env, CDK_CONTEXT_JSON: JSON.stringify({ carrel: { deskDomain: 'not a domain' } }), CDK_OUTDIR: join(dir, 'out') };

    // Act
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'bin/carrel.ts'], { cwd: root, env, encoding: 'utf8' });

    // Assess
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, /Invalid carrel configuration \(from context "carrel"\): deskDomain: must be a DNS name/);
  });
});
