import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import {
  DecryptionFailure,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
  SecretsManagerServiceException,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { TransientError } from '../../../lambdas/core/errors.js';
import { AcmeDns01Authority, CertificateAuthorityError, mapAcmeError } from '../../../lambdas/adapters/acme-dns01.js';
import { CertificateStoreError, generateAccountKey, SecretsManagerAccountKey, SecretsManagerCertificateStore } from '../../../lambdas/adapters/aws/secrets-manager-certificates.js';
import { FakeLog } from '../../support/fakes.js';
import { connectionReset, internalError, serviceError, throttling, timeoutError } from './sdk-errors.js';

const CERT_ARN = 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:carrel/gate-certificate-AbCdEf';
const KEY_ARN = 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:carrel/acme-account-GhIjKl';

const client = new SecretsManagerClient({ region: 'eu-west-2', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const secretsManager = mockClient(client);

/** A self-signed certificate for `names`, valid `days` (openssl, as an operator or a CA would hand one over). */
function selfSigned(names: string[], days: number): { certificate: string; privateKey: string } {
  const dir = mkdtempSync(join(tmpdir(), 'carrel-cert-'));
  try {
    const san = names.map((n) => `DNS:${n}`).join(',');
    const made = spawnSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', String(days), '-subj', '/CN=test',
      '-addext', `subjectAltName=${san}`, '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ]);
    assert.equal(made.status, 0, made.stderr.toString());
    return { certificate: readFileSync(join(dir, 'cert.pem'), 'utf8'), privateKey: readFileSync(join(dir, 'key.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('SecretsManagerCertificateStore', () => {
  afterEach(() => secretsManager.reset());

  it('reads expiry and names from the certificate itself, not from expiresAt', async () => {
    // Prepare
    const { certificate, privateKey } = selfSigned(['*.desk.example.org'], 40);
    secretsManager.on(GetSecretValueCommand, { SecretId: CERT_ARN }).resolves({ SecretString: JSON.stringify({ certificate, privateKey, expiresAt: '2099-01-01T00:00:00Z' }) });
    // Act
    const current = await new SecretsManagerCertificateStore(client, CERT_ARN).current();
    // Assess
    assert.ok('expiresAt' in current);
    assert.deepEqual(current.names, ['*.desk.example.org']);
    const days = (current.expiresAt.getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 39 && days <= 40, `expires in ${days} days`);
  });

  it("the deploy's placeholder, a value that is not JSON or a certificate that does not parse is missing, with the reason", async () => {
    // Prepare
    secretsManager
      .on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: JSON.stringify({ certificate: '', privateKey: '', expiresAt: '', placeholder: 'abc' }) })
      .resolvesOnce({ SecretString: 'not json' })
      .resolvesOnce({ SecretString: JSON.stringify({ certificate: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' }) });
    const store = new SecretsManagerCertificateStore(client, CERT_ARN);
    // Act
    const results = [await store.current(), await store.current(), await store.current()];
    // Assess
    assert.deepEqual(results, [
      { missing: 'the secret holds no certificate yet' },
      { missing: 'the secret is not JSON {certificate, privateKey, expiresAt}' },
      { missing: 'the secret holds a certificate that does not parse' },
    ]);
  });

  it('save writes {certificate, privateKey, expiresAt} to the gate certificate secret', async () => {
    // Prepare
    secretsManager.on(PutSecretValueCommand).resolves({ ARN: CERT_ARN, VersionId: 'v2' });
    const issued = { certificate: 'CHAIN', privateKey: 'KEY', expiresAt: new Date('2031-02-03T04:05:06Z'), names: ['*.desk.example.org'] };
    // Act
    await new SecretsManagerCertificateStore(client, CERT_ARN).save(issued);
    // Assess
    const [put] = secretsManager.commandCalls(PutSecretValueCommand);
    assert.equal(put!.args[0].input.SecretId, CERT_ARN);
    assert.deepEqual(JSON.parse(put!.args[0].input.SecretString!), { certificate: 'CHAIN', privateKey: 'KEY', expiresAt: '2031-02-03T04:05:06.000Z' });
  });

  for (const [what, error] of [
    ['throttling', throttling(SecretsManagerServiceException)],
    ['a 5xx', internalError(SecretsManagerServiceException, 'InternalServiceError')],
    ['a timeout', timeoutError()],
    ['a reset connection', connectionReset()],
  ] as const) {
    it(`${what} on read or write becomes TransientError with the cause`, async () => {
      // Prepare
      secretsManager.on(GetSecretValueCommand).rejects(error);
      secretsManager.on(PutSecretValueCommand).rejects(error);
      const store = new SecretsManagerCertificateStore(client, CERT_ARN);
      // Act + Assess
      await assert.rejects(store.current(), (e: Error) => e instanceof TransientError && e.cause === error && /Reading the gate certificate failed for now/.test(e.message));
      await assert.rejects(
        store.save({ certificate: 'C', privateKey: 'K', expiresAt: new Date(), names: [] }),
        (e: Error) => e instanceof TransientError && /Writing the gate certificate failed for now/.test(e.message) && !e.message.includes('"K"'),
      );
    });
  }

  for (const [what, error] of [
    ['no such secret', new ResourceNotFoundException({ message: "Secrets Manager can't find the specified secret.", $metadata: { httpStatusCode: 400 } })],
    ['access denied', serviceError(SecretsManagerServiceException, 'AccessDeniedException', 400, 'User is not authorized')],
    ['a KMS decryption failure', new DecryptionFailure({ message: 'Access to KMS is not allowed', $metadata: { httpStatusCode: 400 } })],
  ] as const) {
    it(`${what} is a CertificateStoreError that names the code`, async () => {
      // Prepare
      secretsManager.on(GetSecretValueCommand).rejects(error);
      // Act + Assess
      await assert.rejects(new SecretsManagerCertificateStore(client, CERT_ARN).current(), (e: Error) => e instanceof CertificateStoreError && e.message.includes(`(${error.name})`) && e.cause === error);
    });
  }
});

describe('SecretsManagerAccountKey', () => {
  afterEach(() => secretsManager.reset());

  it("creates an ECDSA key on first use (over the deploy's placeholder) and reuses it afterwards", async () => {
    // Prepare
    let stored = 'RandomPlaceholder32Characters000';
    secretsManager.on(GetSecretValueCommand, { SecretId: KEY_ARN }).callsFake(() => ({ SecretString: stored }));
    secretsManager.on(PutSecretValueCommand, { SecretId: KEY_ARN }).callsFake((input) => {
      stored = input.SecretString;
      return {};
    });
    // Act
    const first = await new SecretsManagerAccountKey(client, KEY_ARN).get();
    const later = await new SecretsManagerAccountKey(client, KEY_ARN).get();
    // Assess
    assert.match(first, /^-----BEGIN PRIVATE KEY-----/);
    assert.equal(later, first);
    assert.equal(secretsManager.commandCalls(PutSecretValueCommand).length, 1);
  });

  it('a failed write of the new key is an error (the key is not used unsaved)', async () => {
    // Prepare
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: 'placeholder' });
    secretsManager.on(PutSecretValueCommand).rejects(throttling(SecretsManagerServiceException));
    // Act + Assess
    await assert.rejects(new SecretsManagerAccountKey(client, KEY_ARN).get(), (e: Error) => e instanceof TransientError && /Writing the ACME account key/.test(e.message) && !e.message.includes('PRIVATE'));
  });
});

describe('AcmeDns01Authority errors', () => {
  it('a CA that cannot be reached is a TransientError, what the CA refuses a CertificateAuthorityError, carrel errors pass through', () => {
    // Prepare
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED', isAxiosError: true });
    const noAnswer = Object.assign(new Error('socket hang up'), { isAxiosError: true });
    const problem = new Error('Error creating new order :: too many certificates already issued for "example.org"');
    const transient = new TransientError('Route 53 throttled');
    // Act
    const mapped = [refused, noAnswer, problem, transient].map((e) => mapAcmeError(e, '*.desk.example.org', 'https://ca.example/dir'));
    // Assess
    assert.ok(mapped[0] instanceof TransientError && /Reaching the ACME CA at https:\/\/ca\.example\/dir failed for now: connect ECONNREFUSED/.test(mapped[0].message));
    assert.ok(mapped[1] instanceof TransientError);
    assert.ok(mapped[2] instanceof CertificateAuthorityError && /did not issue a certificate for \*\.desk\.example\.org: Error creating new order :: too many/.test(mapped[2].message));
    assert.equal(mapped[2].cause, problem);
    assert.equal(mapped[3], transient);
  });

  it('a name that is not a domain is refused before any request', async () => {
    // Prepare
    const authority = new AcmeDns01Authority({
      directoryUrl: 'https://127.0.0.1:9/directory',
      accountKey: { get: async () => assert.fail('no key needed') },
      records: { add: async () => assert.fail('no challenge'), remove: async () => {} },
      log: new FakeLog(),
    });
    // Act + Assess
    await assert.rejects(authority.issue('desk example'), (e: Error) => e instanceof CertificateAuthorityError && /is not a domain name/.test(e.message));
  });
});
