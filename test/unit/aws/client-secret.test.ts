import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { GetSecretValueCommand, SecretsManagerClient, SecretsManagerServiceException } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { TransientError } from '../../../lambdas/core/errors.js';
import { ClientSecretError, secretsManagerClientSecret } from '../../../lambdas/adapters/aws/client-secret.js';
import { connectionReset, internalError, serviceError, throttling, timeoutError } from './sdk-errors.js';

const ARN = 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:carrel/oidc-client-AbCdEf';
const client = new SecretsManagerClient({ region: 'eu-west-2', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const secrets = mockClient(client);

describe('the OpenID Connect client secret from Secrets Manager', () => {
  afterEach(() => secrets.reset());

  for (const [what, stored] of [
    ['plain text', '  s3cret-value \n'],
    ['JSON {clientSecret}', '{"clientSecret":"s3cret-value"}'],
    ['JSON {client_secret}', '{"client_secret":"s3cret-value"}'],
  ]) {
    it(`reads the secret stored as ${what}, once for several sign-ins`, async () => {
      // Prepare
      secrets.on(GetSecretValueCommand).resolves({ SecretString: stored });
      const read = secretsManagerClientSecret(client, ARN);
      // Act
      const values = [await read(), await read()];
      // Assess
      assert.deepEqual(values, ['s3cret-value', 's3cret-value']);
      const calls = secrets.commandCalls(GetSecretValueCommand);
      assert.equal(calls.length, 1);
      assert.deepEqual(calls[0]!.args[0].input, { SecretId: ARN });
    });
  }

  it('reads it again after the cache time (a rotated secret is picked up)', async () => {
    // Prepare
    let now = 0;
    secrets.on(GetSecretValueCommand).resolvesOnce({ SecretString: 'old' }).resolves({ SecretString: 'new' });
    const read = secretsManagerClientSecret(client, ARN, { ttlMs: 1000, now: () => now });
    // Act
    const first = await read();
    now = 1001;
    const second = await read();
    // Assess
    assert.deepEqual([first, second], ['old', 'new']);
  });

  for (const [what, error] of [
    ['throttling', throttling(SecretsManagerServiceException)],
    ['a 500', internalError(SecretsManagerServiceException, 'InternalServiceError')],
    ['a timeout', timeoutError()],
    ['a connection reset', connectionReset()],
  ] as const) {
    it(`maps ${what} to TransientError and tries again on the next call`, async () => {
      // Prepare
      secrets.on(GetSecretValueCommand).rejectsOnce(error).resolves({ SecretString: 'later' });
      const read = secretsManagerClientSecret(client, ARN);
      // Act
      const failure = await read().catch((e: unknown) => e);
      // Assess
      assert.ok(failure instanceof TransientError, String(failure));
      assert.equal(await read(), 'later');
    });
  }

  for (const [what, error] of [
    ['a missing secret', serviceError(SecretsManagerServiceException, 'ResourceNotFoundException', 400)],
    ['no permission', serviceError(SecretsManagerServiceException, 'AccessDeniedException', 400)],
  ] as const) {
    it(`fails with ClientSecretError naming the setting on ${what}, never quoting a value`, async () => {
      // Prepare
      secrets.on(GetSecretValueCommand).rejects(error);
      // Act
      const failure = await secretsManagerClientSecret(client, ARN)().catch((e: unknown) => e);
      // Assess
      assert.ok(failure instanceof ClientSecretError);
      assert.match(failure.message, /OIDC_CLIENT_SECRET_ARN.*cannot be read/);
    });
  }

  for (const [what, stored] of [
    ['empty', '  '],
    ['JSON without clientSecret', '{"secret":"x"}'],
    ['broken JSON', '{"clientSecret":'],
  ]) {
    it(`refuses a secret that is ${what}`, async () => {
      // Prepare
      secrets.on(GetSecretValueCommand).resolves({ SecretString: stored });
      // Act
      const failure = await secretsManagerClientSecret(client, ARN)().catch((e: unknown) => e);
      // Assess
      assert.ok(failure instanceof ClientSecretError);
      assert.ok(!String((failure as Error).message).includes('"x"'));
    });
  }
});
