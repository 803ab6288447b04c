/**
 * Host key fingerprints from EC2 console output (a realistic Debian/cloud-init boot log, with the
 * image's per-boot carrel-host-keys block), GetConsoleOutput through aws-sdk-client-mock, the private
 * address lookup, and the provisioner's secrets from Secrets Manager.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { afterEach, describe, it } from 'node:test';
import { DescribeInstancesCommand, EC2Client, EC2ServiceException, GetConsoleOutputCommand } from '@aws-sdk/client-ec2';
import { GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { TransientError } from '../../lambdas/core/index.js';
import { ConsoleHostKeys, describeWorkspaceInstance, parseHostKeyFingerprints } from '../../lambdas/adapters/aws/console-host-keys.js';
import { ProvisionSecretError, SecretsManagerProvisionSecrets } from '../../lambdas/adapters/aws/provisioner-secrets.js';

const FIXTURE = new URL('./fixtures/console-output.txt', import.meta.url);
const ECDSA = 'SHA256:8fVEeFxRx/ZwNkp36bjs7O4YOTZra+TdgxMXKiU+XzU';
const ED25519 = 'SHA256:jn+EtyXZ90vlLACNUKBEYNxGdt+47ObxAQRKPp3h0es';
const RSA = 'SHA256:UNUoDsq2C2gihcybnZScjaHQ9Gv+M9kVES+gKjU9uOQ';
const INSTANCE = 'i-0123456789abcdef0';

const ec2 = mockClient(EC2Client);
const secretsManager = mockClient(SecretsManagerClient);
afterEach(() => {
  ec2.reset();
  secretsManager.reset();
});

function awsError(name: string, fault: 'client' | 'server' = 'client', status = 400) {
  return new EC2ServiceException({ name, $fault: fault, $metadata: { httpStatusCode: status }, message: `${name} happened` });
}

describe('host key fingerprints from console output', () => {
  it('reads the ECDSA, ED25519 and RSA fingerprints of a real boot log, and nothing printed outside the block', async () => {
    // Prepare
    const text = await readFile(FIXTURE, 'utf8');

    // Act
    const found = parseHostKeyFingerprints(text);

    // Assess
    assert.deepEqual(found, [ECDSA, ED25519, RSA]);
    assert.ok(text.includes('SHA256:mt1KIT9NCxbQwIZjMjB95+X9OnPGtdxAUxGqm3K3ECA'), 'the fixture has a fingerprint outside the block');
  });

  it('takes the last complete block (the latest boot), with CRLF lines, and ignores a block cut short', () => {
    // Prepare
    const block = (...lines: string[]) => ['-----BEGIN SSH HOST KEY FINGERPRINTS-----', ...lines, '-----END SSH HOST KEY FINGERPRINTS-----'];
    const text = [
      ...block(`ec2: 256 ${ECDSA} root@old (ECDSA)`),
      'reboot',
      ...block(`ec2: 256 ${ED25519} root@new (ED25519)`, `ec2: 256 ${ED25519} root@new (ED25519)`),
      '-----BEGIN SSH HOST KEY FINGERPRINTS-----',
      `256 ${RSA} root@cut (RSA)`,
    ].join('\r\n');

    // Act / Assess
    assert.deepEqual(parseHostKeyFingerprints(text), [ED25519]);
    assert.deepEqual(parseHostKeyFingerprints(''), []);
    assert.deepEqual(parseHostKeyFingerprints(block('256 MD5:62:2d:9c:6b:b7:d1:eb:f9:0e:8c:30:bd:34:56:8a:ad root@x (ECDSA)').join('\n')), []);
  });

  it('asks EC2 for the latest console output and decodes its base64', async () => {
    // Prepare
    ec2.on(GetConsoleOutputCommand).resolves({ InstanceId: INSTANCE, Output: Buffer.from(await readFile(FIXTURE)).toString('base64') });

    // Act
    const found = await new ConsoleHostKeys(new EC2Client({ region: 'eu-west-2' })).fingerprints(INSTANCE);

    // Assess
    assert.deepEqual(found, [ECDSA, ED25519, RSA]);
    assert.deepEqual(ec2.commandCalls(GetConsoleOutputCommand).map((c) => c.args[0].input), [{ InstanceId: INSTANCE, Latest: true }]);
  });

  it('answers empty while there is no output yet or the new instance is not visible yet', async () => {
    // Prepare
    ec2.on(GetConsoleOutputCommand).resolvesOnce({ InstanceId: INSTANCE }).rejectsOnce(awsError('InvalidInstanceID.NotFound'));
    const keys = new ConsoleHostKeys(new EC2Client({ region: 'eu-west-2' }));

    // Act / Assess
    assert.deepEqual(await keys.fingerprints(INSTANCE), []);
    assert.deepEqual(await keys.fingerprints(INSTANCE), []);
  });

  it('falls back to the posted output on instances without the live buffer', async () => {
    // Prepare
    const posted = `-----BEGIN SSH HOST KEY FINGERPRINTS-----\n256 ${ED25519} r (ED25519)\n-----END SSH HOST KEY FINGERPRINTS-----\n`;
    ec2.on(GetConsoleOutputCommand).callsFake((input: { Latest?: boolean }) => {
      if (input.Latest) throw awsError('UnsupportedOperation');
      return { Output: Buffer.from(posted).toString('base64') };
    });

    // Act
    const found = await new ConsoleHostKeys(new EC2Client({ region: 'eu-west-2' })).fingerprints(INSTANCE);

    // Assess
    assert.deepEqual(found, [ED25519]);
    assert.deepEqual(ec2.commandCalls(GetConsoleOutputCommand).map((c) => c.args[0].input), [{ InstanceId: INSTANCE, Latest: true }, { InstanceId: INSTANCE }]);
  });

  it('wraps throttling and 5xx in TransientError and passes other errors through', async () => {
    // Prepare
    ec2.on(GetConsoleOutputCommand).rejectsOnce(awsError('RequestLimitExceeded', 'client', 503)).rejectsOnce(awsError('UnauthorizedOperation', 'client', 403));
    const keys = new ConsoleHostKeys(new EC2Client({ region: 'eu-west-2' }));

    // Act / Assess
    await assert.rejects(keys.fingerprints(INSTANCE), TransientError);
    await assert.rejects(keys.fingerprints(INSTANCE), (error: Error) => error.name === 'UnauthorizedOperation' && !(error instanceof TransientError));
  });

  it("describes an instance: its private address and tags (the home's access point among them)", async () => {
    // Prepare
    ec2.on(DescribeInstancesCommand, { InstanceIds: [INSTANCE] }).resolves({
      Reservations: [{ Instances: [{ InstanceId: INSTANCE, PrivateIpAddress: '10.0.1.23', PublicIpAddress: '203.0.113.7', Tags: [{ Key: 'carrel:home', Value: 'fsap-0123456789abcdef0' }, { Key: 'Name', Value: 'ws' }] }] }],
    });
    const client = new EC2Client({ region: 'eu-west-2' });

    // Act
    const facts = await describeWorkspaceInstance(client, INSTANCE);

    // Assess
    assert.deepEqual(facts, { privateIpAddress: '10.0.1.23', tags: { 'carrel:home': 'fsap-0123456789abcdef0', Name: 'ws' } });
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    await assert.rejects(describeWorkspaceInstance(client, INSTANCE), /was not found/);
  });
});

describe("the provisioner's secrets", () => {
  const KEY_ARN = 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:carrel/provisioner-key-AbCdEf';
  const CERT_ARN = 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:carrel/gate-cert-AbCdEf';
  const KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----';
  const CERT = { certificate: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', privateKey: '-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n' };
  const now = new Date('2030-01-01T00:00:00Z');
  const secrets = (clock = () => now) => new SecretsManagerProvisionSecrets(new SecretsManagerClient({ region: 'eu-west-2' }), KEY_ARN, CERT_ARN, 60_000, clock);

  it('reads the SSH key (plain or JSON) and the certificate, each once per few minutes', async () => {
    // Prepare
    secretsManager.on(GetSecretValueCommand, { SecretId: KEY_ARN }).resolves({ SecretString: KEY });
    secretsManager.on(GetSecretValueCommand, { SecretId: CERT_ARN }).resolves({ SecretString: JSON.stringify({ ...CERT, expiresAt: '2030-03-01T00:00:00Z' }) });
    let at = now.getTime();
    const store = secrets(() => new Date(at));

    // Act
    const key = await store.sshPrivateKey();
    const certificate = await store.gateCertificate();
    await store.sshPrivateKey();
    at += 61_000;
    await store.sshPrivateKey();

    // Assess
    assert.equal(key, `${KEY}\n`);
    assert.deepEqual(certificate, CERT);
    assert.deepEqual(secretsManager.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input.SecretId), [KEY_ARN, CERT_ARN, KEY_ARN]);
  });

  it('accepts the key as JSON {privateKey}', async () => {
    // Prepare
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ privateKey: KEY }) });

    // Act / Assess
    assert.equal(await secrets().sshPrivateKey(), `${KEY}\n`);
  });

  it('refuses a malformed or expired certificate and a secret without a key, without repeating secret values', async () => {
    // Prepare
    secretsManager
      .on(GetSecretValueCommand, { SecretId: CERT_ARN })
      .resolvesOnce({ SecretString: JSON.stringify({ ...CERT, expiresAt: '2029-12-31T00:00:00Z' }) })
      .resolvesOnce({ SecretString: JSON.stringify({ certificate: CERT.certificate }) })
      .resolvesOnce({ SecretString: 'not json' });
    secretsManager.on(GetSecretValueCommand, { SecretId: KEY_ARN }).resolves({ SecretString: 'hunter2-password' });

    // Act / Assess
    await assert.rejects(secrets().gateCertificate(), (e: Error) => e instanceof ProvisionSecretError && /expired at 2029-12-31T00:00:00Z/.test(e.message));
    await assert.rejects(secrets().gateCertificate(), (e: Error) => e instanceof ProvisionSecretError && /privateKey is required/.test(e.message));
    await assert.rejects(secrets().gateCertificate(), (e: Error) => e instanceof ProvisionSecretError && /not JSON/.test(e.message));
    await assert.rejects(secrets().sshPrivateKey(), (e: Error) => e instanceof ProvisionSecretError && !e.message.includes('hunter2'));
  });

  it('passes a missing secret through and wraps throttling as transient', async () => {
    // Prepare
    secretsManager
      .on(GetSecretValueCommand)
      .rejectsOnce(new ResourceNotFoundException({ message: "Secrets Manager can't find the specified secret.", $metadata: {} }))
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } }));

    // Act / Assess
    await assert.rejects(secrets().sshPrivateKey(), ResourceNotFoundException);
    await assert.rejects(secrets().sshPrivateKey(), TransientError);
  });
});
