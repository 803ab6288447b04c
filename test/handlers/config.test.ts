import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LocalKeySigner } from '../../lambdas/adapters/tokens.js';
import { ConfigError, loadConfig } from '../../lambdas/handlers/config.js';
import { TEST_ENV } from './support.js';

const SIZES = { small: { instanceTypes: ['t4g.medium', 't4g.large'], cpu: 1024, memoryMiB: 4096 }, large: { instanceTypes: ['m7g.2xlarge'], cpu: 8192, memoryMiB: 32768 } };

/** What CDK sets for EC2 workspaces. */
const EC2_ENV = {
  ...TEST_ENV,
  COMPUTE_KIND: 'ec2',
  WORKSPACE_SIZES: JSON.stringify(SIZES),
  WORKSPACE_SUBNET_IDS: 'subnet-0a1b2c3d4e5f60718, subnet-0f1e2d3c4b5a69788',
  WORKSPACE_SECURITY_GROUP_ID: 'sg-0123456789abcdef0',
  LAUNCH_TEMPLATE_ID: 'lt-0123456789abcdef0',
  EFS_FILE_SYSTEM_ID: 'fs-0123456789abcdef0',
  HOSTED_ZONE_ID: 'Z0123456789ABCDEFGHIJ',
  PROVISIONER_FUNCTION_NAME: 'carrel-test-provision',
} as const;

/** What CDK sets for Fargate workspaces. */
const FARGATE_ENV = {
  ...TEST_ENV,
  COMPUTE_KIND: 'fargate',
  WORKSPACE_SIZES: JSON.stringify(SIZES),
  WORKSPACE_SUBNET_IDS: 'subnet-0a1b2c3d4e5f60718',
  WORKSPACE_SECURITY_GROUP_ID: 'sg-0123456789abcdef0',
  ECS_CLUSTER_ARN: 'arn:aws:ecs:eu-west-2:111122223333:cluster/carrel-test-workspaces',
  TASK_DEFINITION_ARN: 'arn:aws:ecs:eu-west-2:111122223333:task-definition/carrel-test-workspace:3',
  EFS_FILE_SYSTEM_ID: 'fs-0123456789abcdef0',
  HOSTED_ZONE_ID: 'Z0123456789ABCDEFGHIJ',
} as const;

function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    return error;
  }
  assert.fail('loadConfig accepted a bad environment');
}

describe('loadConfig', () => {
  it('applies the documented defaults and derives the lifecycle policy', () => {
    // Act
    const config = loadConfig({ ...TEST_ENV, PATH: '/usr/bin' });
    // Assess
    assert.equal(config.cookieDomain, 'app.test');
    assert.equal(config.publicUrlScheme, 'https');
    assert.equal(config.publicPort, undefined);
    assert.equal(config.cookieSecure, true);
    assert.deepEqual(config.signing, { kind: 'kms', keyId: 'alias/carrel-test' });
    assert.equal(config.oidc.rolesClaim, 'groups');
    assert.equal(config.sessionCookie, '__Host-carrel_session');
    assert.equal(config.gateCookieTtlSeconds, 900);
    assert.equal(config.agentTokenTtlSeconds, 2_592_000);
    assert.equal(config.heartbeatSeconds, 60);
    assert.equal(config.policy.idleTimeoutMs, 1_800_000);
    assert.equal(config.policy.idleWarningMs, 60_000);
    assert.equal(config.policy.stoppedRetentionMs, 168 * 3_600_000);
    assert.ok(config.policy.deadlines.starting > 0);
    assert.deepEqual(config.workspaces, {
      compute: undefined,
      homes: undefined,
      hostnames: undefined,
      address: 'private',
      gatePort: 443,
      provisionerSshKeySecretArn: undefined,
      gateCertificateSecretArn: undefined,
    });
  });

  it('reads every setting that is given', () => {
    // Prepare
    const pem = LocalKeySigner.generatePem();
    // Act
    const config = loadConfig({
      ...TEST_ENV,
      SIGNING_KEY_ID: undefined,
      SIGNING_KEY_PEM: pem.replace(/\n/g, '\\n'),
      DESK_DOMAIN: 'Desk.Example.ORG',
      COOKIE_DOMAIN: 'example.org',
      PUBLIC_URL_SCHEME: 'http',
      PUBLIC_PORT: '8080',
      COOKIE_SECURE: 'false',
      OIDC_ROLES_CLAIM: 'roles',
      SESSION_COOKIE: 'sess',
      IDLE_TIMEOUT_SECONDS: '600',
      IDLE_WARNING_SECONDS: '30',
      STOPPED_RETENTION_HOURS: '24',
      HEARTBEAT_SECONDS: '20',
      GATE_COOKIE_TTL_SECONDS: '300',
      POWERTOOLS_LOG_LEVEL: 'debug',
    });
    // Assess
    assert.equal(config.deskDomain, 'desk.example.org');
    assert.equal(config.cookieDomain, 'example.org');
    assert.deepEqual(config.signing, { kind: 'pem', pem });
    assert.equal(config.publicPort, 8080);
    assert.equal(config.cookieSecure, false);
    assert.equal(config.policy.idleTimeoutMs, 600_000);
    assert.equal(config.policy.stoppedRetentionMs, 24 * 3_600_000);
    assert.equal(config.logLevel, 'DEBUG');
  });

  it('reads EC2 workspaces with their defaults', () => {
    // Act
    const config = loadConfig(EC2_ENV);
    // Assess
    assert.deepEqual(config.workspaces, {
      compute: {
        kind: 'ec2',
        sizes: SIZES,
        subnetIds: ['subnet-0a1b2c3d4e5f60718', 'subnet-0f1e2d3c4b5a69788'],
        securityGroupIds: ['sg-0123456789abcdef0'],
        launchTemplateId: 'lt-0123456789abcdef0',
        hibernate: false,
        provisionerFunctionName: 'carrel-test-provision',
      },
      homes: { fileSystemId: 'fs-0123456789abcdef0', uid: 1000, gid: 1000 },
      hostnames: { hostedZoneId: 'Z0123456789ABCDEFGHIJ', ttlSeconds: 60 },
      address: 'private',
      gatePort: 443,
      provisionerSshKeySecretArn: undefined,
      gateCertificateSecretArn: undefined,
    });
  });

  it('reads every EC2 workspace setting that is given', () => {
    // Act
    const config = loadConfig({
      ...EC2_ENV,
      HIBERNATE: 'true',
      WORKSPACE_ADDRESS: 'public',
      HOME_UID: '2001',
      HOME_GID: '2002',
      HOSTED_ZONE_ID: '/hostedzone/Z0123456789ABCDEFGHIJ',
      HOSTNAME_TTL_SECONDS: '30',
      GATE_PORT: '8443',
      PROVISIONER_FUNCTION_NAME: 'arn:aws:lambda:eu-west-2:111122223333:function:carrel-test-provision',
      PROVISIONER_SSH_KEY_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-2:111122223333:secret:carrel/provisioner-ssh-AbCdEf',
      GATE_CERTIFICATE_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-2:111122223333:secret:carrel/gate-certificate-GhIjKl',
    });
    // Assess
    const { compute, homes, hostnames, address, gatePort, provisionerSshKeySecretArn, gateCertificateSecretArn } = config.workspaces;
    assert.equal(compute?.kind === 'ec2' && compute.hibernate, true);
    assert.equal(compute?.kind === 'ec2' && compute.provisionerFunctionName, 'arn:aws:lambda:eu-west-2:111122223333:function:carrel-test-provision');
    assert.deepEqual(homes, { fileSystemId: 'fs-0123456789abcdef0', uid: 2001, gid: 2002 });
    assert.deepEqual(hostnames, { hostedZoneId: 'Z0123456789ABCDEFGHIJ', ttlSeconds: 30 });
    assert.equal(address, 'public');
    assert.equal(gatePort, 8443);
    assert.match(provisionerSshKeySecretArn ?? '', /:secret:carrel\/provisioner-ssh-/);
    assert.match(gateCertificateSecretArn ?? '', /:secret:carrel\/gate-certificate-/);
  });

  it('names the session cookie __Host-carrel_session with Secure cookies, carrel_session without', () => {
    // Act
    const secure = loadConfig(TEST_ENV);
    const insecure = loadConfig({ ...TEST_ENV, COOKIE_SECURE: 'false' });
    // Assess
    assert.equal(secure.sessionCookie, '__Host-carrel_session');
    assert.equal(insecure.sessionCookie, 'carrel_session');
  });

  it('reads the warm pool of EC2 workspaces: spares per size, used for resumes unless told otherwise', () => {
    // Act
    const pooled = loadConfig({ ...EC2_ENV, WARM_POOL: '{"small":2}' });
    const notForResume = loadConfig({ ...EC2_ENV, WARM_POOL: '{"small":1}', WARM_POOL_FOR_RESUME: 'false' });
    const empty = loadConfig({ ...EC2_ENV, WARM_POOL: '{"small":0}' });
    // Assess
    const compute = pooled.workspaces.compute;
    assert.deepEqual(compute?.kind === 'ec2' && compute.warmPool, { targets: { small: 2 }, forResume: true });
    const other = notForResume.workspaces.compute;
    assert.deepEqual(other?.kind === 'ec2' && other.warmPool, { targets: { small: 1 }, forResume: false });
    const none = empty.workspaces.compute;
    assert.equal(none?.kind === 'ec2' && none.warmPool, undefined);
  });

  it('lets the provisioner itself (it holds the SSH key) run without PROVISIONER_FUNCTION_NAME', () => {
    // Act
    const config = loadConfig({
      ...EC2_ENV,
      PROVISIONER_FUNCTION_NAME: undefined,
      PROVISIONER_SSH_KEY_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-2:111122223333:secret:carrel/provisioner-ssh-AbCdEf',
    });
    // Assess
    assert.equal(config.workspaces.compute?.kind, 'ec2');
    assert.equal(config.workspaces.compute?.kind === 'ec2' && config.workspaces.compute.provisionerFunctionName, undefined);
  });

  it('reads Fargate workspaces', () => {
    // Act
    const config = loadConfig(FARGATE_ENV);
    // Assess
    assert.deepEqual(config.workspaces.compute, {
      kind: 'fargate',
      sizes: SIZES,
      subnetIds: ['subnet-0a1b2c3d4e5f60718'],
      securityGroupIds: ['sg-0123456789abcdef0'],
      clusterArn: 'arn:aws:ecs:eu-west-2:111122223333:cluster/carrel-test-workspaces',
      taskDefinitionArn: 'arn:aws:ecs:eu-west-2:111122223333:task-definition/carrel-test-workspace:3',
      fileSystemId: 'fs-0123456789abcdef0',
    });
    assert.equal(config.workspaces.homes?.fileSystemId, 'fs-0123456789abcdef0');
  });

  it('reads homes and hostnames without compute', () => {
    // Act
    const config = loadConfig({ ...TEST_ENV, EFS_FILE_SYSTEM_ID: 'fs-0123456789abcdef0', HOSTED_ZONE_ID: 'Z0123456789ABCDEFGHIJ' });
    // Assess
    assert.equal(config.workspaces.compute, undefined);
    assert.equal(config.workspaces.homes?.fileSystemId, 'fs-0123456789abcdef0');
    assert.equal(config.workspaces.hostnames?.hostedZoneId, 'Z0123456789ABCDEFGHIJ');
  });

  for (const [kind, env, settings] of [
    ['ec2', EC2_ENV, ['WORKSPACE_SIZES', 'WORKSPACE_SUBNET_IDS', 'WORKSPACE_SECURITY_GROUP_ID', 'LAUNCH_TEMPLATE_ID', 'EFS_FILE_SYSTEM_ID', 'HOSTED_ZONE_ID', 'PROVISIONER_FUNCTION_NAME']],
    ['fargate', FARGATE_ENV, ['WORKSPACE_SIZES', 'WORKSPACE_SUBNET_IDS', 'WORKSPACE_SECURITY_GROUP_ID', 'ECS_CLUSTER_ARN', 'TASK_DEFINITION_ARN', 'EFS_FILE_SYSTEM_ID', 'HOSTED_ZONE_ID']],
  ] as const) {
    for (const setting of settings) {
      it(`names ${setting} when COMPUTE_KIND is ${kind} and it is missing`, () => {
        // Act
        const error = configError({ ...env, [setting]: undefined });
        // Assess
        assert.deepEqual(error.issues, [`${setting} is required when COMPUTE_KIND is ${kind}`]);
      });
    }

    it(`names every missing ${kind} setting at once, with the other bad settings`, () => {
      // Act
      const error = configError({ ...TEST_ENV, TABLE_NAME: undefined, COMPUTE_KIND: kind });
      // Assess
      assert.ok(error.issues.some((issue) => issue.startsWith('TABLE_NAME')));
      for (const setting of settings) assert.ok(error.issues.includes(`${setting} is required when COMPUTE_KIND is ${kind}`), setting);
    });
  }

  const bad: [string, Record<string, string | undefined>, RegExp][] = [
    ['COMPUTE_KIND unknown', { ...EC2_ENV, COMPUTE_KIND: 'lambda' }, /COMPUTE_KIND must be ec2 or fargate/],
    ['compute settings without COMPUTE_KIND', { LAUNCH_TEMPLATE_ID: 'lt-0123456789abcdef0', WORKSPACE_SUBNET_IDS: 'subnet-0a1b2c3d4e5f60718' }, /COMPUTE_KIND is required when WORKSPACE_SUBNET_IDS, LAUNCH_TEMPLATE_ID are set/],
    ['WORKSPACE_SIZES not JSON', { ...EC2_ENV, WORKSPACE_SIZES: '{small: t4g.large}' }, /WORKSPACE_SIZES must be JSON like/],
    ['WORKSPACE_SIZES with a bad Fargate CPU', { ...EC2_ENV, WORKSPACE_SIZES: '{"small":{"instanceTypes":["t4g.large"],"cpu":1000,"memoryMiB":4096}}' }, /WORKSPACE_SIZES\.small\.cpu must be one of 256/],
    ['WORKSPACE_SIZES with a bad size name', { ...EC2_ENV, WORKSPACE_SIZES: '{"Small":{"instanceTypes":["t4g.large"]}}' }, /WORKSPACE_SIZES\.Small size names must be lower-case words/],
    ['WORKSPACE_SIZES with a bad instance type', { ...EC2_ENV, WORKSPACE_SIZES: '{"small":{"instanceTypes":["large"]}}' }, /WORKSPACE_SIZES\.small\.instanceTypes\.0 must be EC2 instance types/],
    ['WORKSPACE_SIZES without cpu on Fargate', { ...FARGATE_ENV, WORKSPACE_SIZES: '{"small":{"instanceTypes":["t4g.large"]}}' }, /WORKSPACE_SIZES\.small needs cpu and memoryMiB for Fargate/],
    ['WORKSPACE_SUBNET_IDS not subnets', { ...EC2_ENV, WORKSPACE_SUBNET_IDS: 'subnet-0a1b2c3d4e5f60718,sn-2' }, /WORKSPACE_SUBNET_IDS must be subnet ids/],
    ['WORKSPACE_SECURITY_GROUP_ID not a group', { ...EC2_ENV, WORKSPACE_SECURITY_GROUP_ID: 'workspaces' }, /WORKSPACE_SECURITY_GROUP_ID must be a security group id/],
    ['WORKSPACE_ADDRESS unknown', { WORKSPACE_ADDRESS: 'elastic' }, /WORKSPACE_ADDRESS must be private or public/],
    ['LAUNCH_TEMPLATE_ID a name', { ...EC2_ENV, LAUNCH_TEMPLATE_ID: 'carrel-workspaces' }, /LAUNCH_TEMPLATE_ID must be a launch template id/],
    ['HIBERNATE not a boolean', { ...EC2_ENV, HIBERNATE: 'sometimes' }, /HIBERNATE must be true or false/],
    ['WARM_POOL not JSON', { ...EC2_ENV, WARM_POOL: 'small=2' }, /WARM_POOL must be JSON like \{"small":2\}/],
    ['WARM_POOL not a count', { ...EC2_ENV, WARM_POOL: '{"small":1.5}' }, /WARM_POOL\.small must be a whole number of spares/],
    ['WARM_POOL too large', { ...EC2_ENV, WARM_POOL: '{"small":500}' }, /WARM_POOL\.small must be at most 50/],
    ['WARM_POOL for an unknown size', { ...EC2_ENV, WARM_POOL: '{"huge":1}' }, /WARM_POOL\.huge is not a size in WORKSPACE_SIZES/],
    ['WARM_POOL on Fargate', { ...FARGATE_ENV, WARM_POOL: '{"small":1}' }, /WARM_POOL needs COMPUTE_KIND=ec2/],
    ['WARM_POOL_FOR_RESUME not a boolean', { ...EC2_ENV, WARM_POOL_FOR_RESUME: 'often' }, /WARM_POOL_FOR_RESUME must be true or false/],
    ['ECS_CLUSTER_ARN a name', { ...FARGATE_ENV, ECS_CLUSTER_ARN: 'carrel-test-workspaces' }, /ECS_CLUSTER_ARN must be an ECS cluster ARN/],
    ['TASK_DEFINITION_ARN a cluster ARN', { ...FARGATE_ENV, TASK_DEFINITION_ARN: FARGATE_ENV.ECS_CLUSTER_ARN }, /TASK_DEFINITION_ARN must be an ECS task definition ARN/],
    ['EFS_FILE_SYSTEM_ID an ARN', { EFS_FILE_SYSTEM_ID: 'arn:aws:elasticfilesystem:eu-west-2:111122223333:file-system/fs-0123' }, /EFS_FILE_SYSTEM_ID must be an EFS file system id/],
    ['HOME_UID root', { HOME_UID: '0' }, /HOME_UID must be 1 or more \(homes are never owned by root\)/],
    ['HOME_GID not a number', { HOME_GID: 'staff' }, /HOME_GID must be a numeric POSIX id/],
    ['HOSTED_ZONE_ID a domain', { HOSTED_ZONE_ID: 'desk.example.org' }, /HOSTED_ZONE_ID must be a Route 53 hosted zone id/],
    ['HOSTNAME_TTL_SECONDS zero', { HOSTNAME_TTL_SECONDS: '0' }, /HOSTNAME_TTL_SECONDS must be at least 1 seconds/],
    ['GATE_PORT not a port', { GATE_PORT: '70000' }, /GATE_PORT must be a port number/],
    ['PROVISIONER_FUNCTION_NAME with spaces', { ...EC2_ENV, PROVISIONER_FUNCTION_NAME: 'carrel provisioner' }, /PROVISIONER_FUNCTION_NAME must be a Lambda function name or ARN/],
    ['PROVISIONER_SSH_KEY_SECRET_ARN a name', { PROVISIONER_SSH_KEY_SECRET_ARN: 'carrel/provisioner-ssh' }, /PROVISIONER_SSH_KEY_SECRET_ARN must be a Secrets Manager secret ARN/],
    ['GATE_CERTIFICATE_SECRET_ARN a KMS ARN', { GATE_CERTIFICATE_SECRET_ARN: 'arn:aws:kms:eu-west-2:111122223333:key/abc' }, /GATE_CERTIFICATE_SECRET_ARN must be a Secrets Manager secret ARN/],
    ['TABLE_NAME missing', { TABLE_NAME: undefined }, /TABLE_NAME is required/],
    ['TABLE_NAME empty', { TABLE_NAME: '' }, /TABLE_NAME is required/],
    ['OIDC_ISSUER missing', { OIDC_ISSUER: undefined }, /OIDC_ISSUER is required/],
    ['DESK_DOMAIN not a DNS name', { DESK_DOMAIN: 'https://desk.example.org' }, /DESK_DOMAIN must be a DNS name/],
    ['PUBLIC_PORT not a port', { PUBLIC_PORT: '99999' }, /PUBLIC_PORT must be a port number/],
    ['PUBLIC_PORT not a number', { PUBLIC_PORT: 'eighty' }, /PUBLIC_PORT must be a port number/],
    ['COOKIE_SECURE not a boolean', { COOKIE_SECURE: 'maybe' }, /COOKIE_SECURE must be true or false/],
    ['a __Host- session cookie without Secure', { COOKIE_SECURE: 'false', SESSION_COOKIE: '__Host-carrel_session' }, /SESSION_COOKIE a __Host- cookie needs COOKIE_SECURE=true/],
    ['COOKIE_DOMAIN unrelated', { COOKIE_DOMAIN: 'other.test' }, /COOKIE_DOMAIN must be DESK_DOMAIN \(app.test\) or a parent domain of it/],
    ['no signing key', { SIGNING_KEY_ID: undefined }, /SIGNING_KEY_ID is required \(or SIGNING_KEY_PEM in local mode\)/],
    ['two signing keys', { SIGNING_KEY_PEM: LocalKeySigner.generatePem() }, /SIGNING_KEY_PEM must not be set together with SIGNING_KEY_ID/],
    ['a PEM that is not a key', { SIGNING_KEY_ID: undefined, SIGNING_KEY_PEM: 'hello' }, /SIGNING_KEY_PEM must be a PKCS#8 PEM private key/],
    ['OIDC_JWKS_URL not a URL', { OIDC_JWKS_URL: 'jwks.json' }, /OIDC_JWKS_URL must be an http\(s\) URL/],
    ['IDLE_TIMEOUT_SECONDS fractional', { IDLE_TIMEOUT_SECONDS: '90.5' }, /IDLE_TIMEOUT_SECONDS must be a whole number of seconds/],
    ['IDLE_WARNING_SECONDS too long', { IDLE_WARNING_SECONDS: '1800' }, /IDLE_WARNING_SECONDS must be shorter than IDLE_TIMEOUT_SECONDS/],
    ['GATE_COOKIE_TTL_SECONDS below the heartbeat', { GATE_COOKIE_TTL_SECONDS: '45' }, /GATE_COOKIE_TTL_SECONDS must be longer than HEARTBEAT_SECONDS/],
    ['STOPPED_RETENTION_HOURS negative', { STOPPED_RETENTION_HOURS: '-1' }, /STOPPED_RETENTION_HOURS must be at least 1 hours/],
    ['PUBLIC_URL_SCHEME unknown', { PUBLIC_URL_SCHEME: 'ftp' }, /PUBLIC_URL_SCHEME must be https or http/],
  ];
  for (const [what, change, pattern] of bad) {
    it(`names the setting when ${what}`, () => {
      // Act
      const error = configError({ ...TEST_ENV, ...change });
      // Assess
      assert.match(error.message, /^Invalid configuration: /);
      assert.match(error.message, pattern);
    });
  }

  it('lists every bad setting at once', () => {
    // Act
    const error = configError({ DESK_DOMAIN: 'app.test' });
    // Assess
    for (const name of ['TABLE_NAME', 'DEPLOYMENT_ID', 'OIDC_ISSUER', 'OIDC_AUDIENCE', 'SIGNING_KEY_ID']) {
      assert.ok(error.issues.some((issue) => issue.startsWith(name)), `${name} is named`);
    }
  });
});
