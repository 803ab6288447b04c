import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { afterEach, describe, it } from 'node:test';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { generateProvisionerKeyPair, handleProvisionerKey, type ProvisionerKeyDeps } from '../../lib/custom-resources/provisioner-key.js';

/** The part of ssh2 (node-ssh's SSH implementation, untyped here) these tests use. */
interface SshKey {
  readonly type: string;
  getPublicSSH(): Buffer;
  sign(data: Buffer): Buffer;
  verify(data: Buffer, signature: Buffer): boolean;
}
const { utils } = createRequire(import.meta.url)('ssh2') as { utils: { parseKey(data: string): SshKey | SshKey[] | Error } };

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:carrel-ssh-AbCdEf';

function event(requestType: 'Create' | 'Update' | 'Delete', properties: Record<string, string> = { SecretArn: SECRET_ARN, Generation: '1' }): CloudFormationCustomResourceEvent {
  const base = {
    ServiceToken: 'arn:aws:lambda:eu-west-2:123456789012:function:generator',
    ResponseURL: 'https://cloudformation-custom-resource-response.example/presigned',
    StackId: 'arn:aws:cloudformation:eu-west-2:123456789012:stack/carrel-test-stateless/guid',
    RequestId: 'request-1',
    LogicalResourceId: 'ProvisionerKey',
    ResourceType: 'Custom::CarrelProvisionerKey',
    ResourceProperties: { ServiceToken: 'token', ...properties },
  };
  if (requestType === 'Create') return { ...base, RequestType: 'Create' };
  if (requestType === 'Update') return { ...base, RequestType: 'Update', PhysicalResourceId: `${SECRET_ARN}#1`, OldResourceProperties: base.ResourceProperties };
  return { ...base, RequestType: 'Delete', PhysicalResourceId: `${SECRET_ARN}#1` };
}

describe('provisioner SSH key (custom resource)', () => {
  const secrets = mockClient(SecretsManagerClient);
  afterEach(() => secrets.reset());

  const deps = (responses: string[], generate = () => generateProvisionerKeyPair()): ProvisionerKeyDeps => ({
    secrets: new SecretsManagerClient({ region: 'eu-west-2' }),
    respond: async (_url, body) => {
      responses.push(body);
    },
    generate,
  });

  it('generates a key pair that ssh2 (node-ssh) reads, whose public half is an authorized_keys line', () => {
    // Act
    const pair = generateProvisionerKeyPair();

    // Assess
    const privateKey = utils.parseKey(pair.privateKey);
    assert.ok(!(privateKey instanceof Error), String(privateKey));
    const key = Array.isArray(privateKey) ? privateKey[0]! : privateKey;
    assert.equal(key.type, 'ecdsa-sha2-nistp256');
    assert.match(pair.privateKey, /^-----BEGIN EC PRIVATE KEY-----\n/);
    const [type, blob, comment] = pair.publicKey.split(' ');
    assert.equal(type, 'ecdsa-sha2-nistp256');
    assert.equal(comment, 'carrel-provisioner');
    assert.deepEqual(Buffer.from(blob!, 'base64'), key.getPublicSSH(), 'the public key is the private key’s');
    const data = Buffer.from('challenge');
    const publicKey = utils.parseKey(pair.publicKey);
    assert.ok(!(publicKey instanceof Error));
    assert.ok((Array.isArray(publicKey) ? publicKey[0]! : publicKey).verify(data, key.sign(data)));
  });

  it('generates a different pair every time', () => {
    // Act / Assess
    assert.notEqual(generateProvisionerKeyPair().publicKey, generateProvisionerKeyPair().publicKey);
  });

  it('writes the private key into the secret and answers CloudFormation with the public key only', async () => {
    // Prepare
    secrets.on(PutSecretValueCommand).resolves({});
    const responses: string[] = [];
    const pair = generateProvisionerKeyPair();

    // Act
    const response = await handleProvisionerKey(event('Create'), deps(responses, () => pair));

    // Assess
    assert.deepEqual(secrets.commandCalls(PutSecretValueCommand).map((c) => c.args[0].input), [{ SecretId: SECRET_ARN, SecretString: pair.privateKey }]);
    assert.equal(response.Status, 'SUCCESS');
    assert.equal(response.PhysicalResourceId, `${SECRET_ARN}#1`);
    assert.deepEqual(response.Data, { PublicKey: pair.publicKey });
    assert.equal(responses.length, 1);
    assert.doesNotMatch(responses[0]!, /PRIVATE KEY/);
    assert.deepEqual(JSON.parse(responses[0]!), response);
  });

  it('generates a new pair on an update (a new generation)', async () => {
    // Prepare
    secrets.on(PutSecretValueCommand).resolves({});
    const responses: string[] = [];

    // Act
    const response = await handleProvisionerKey(event('Update', { SecretArn: SECRET_ARN, Generation: '2' }), deps(responses));

    // Assess
    assert.equal(secrets.commandCalls(PutSecretValueCommand).length, 1);
    assert.equal(response.PhysicalResourceId, `${SECRET_ARN}#2`);
    assert.match(String(response.Data?.PublicKey), /^ecdsa-sha2-nistp256 /);
  });

  it('leaves the secret alone on delete', async () => {
    // Prepare
    const responses: string[] = [];

    // Act
    const response = await handleProvisionerKey(event('Delete'), deps(responses));

    // Assess
    assert.equal(secrets.commandCalls(PutSecretValueCommand).length, 0);
    assert.equal(response.Status, 'SUCCESS');
    assert.equal(response.PhysicalResourceId, `${SECRET_ARN}#1`);
  });

  it('reports a failure to CloudFormation instead of leaving the stack waiting', async () => {
    // Prepare
    secrets.on(PutSecretValueCommand).rejects(new Error('AccessDeniedException: not authorized'));
    const responses: string[] = [];

    // Act
    const response = await handleProvisionerKey(event('Create'), deps(responses));

    // Assess
    assert.equal(response.Status, 'FAILED');
    assert.match(response.Reason ?? '', /provisioner key: AccessDeniedException/);
    assert.equal(responses.length, 1);
  });
});
