/**
 * The renewal's two secrets in Secrets Manager:
 *
 * - SecretsManagerCertificateStore: the gate certificate secret (`GATE_CERTIFICATE_SECRET_ARN`), JSON
 *   `{certificate, privateKey, expiresAt}`, the contract the provisioner and the Fargate task read
 *   (provisioner-secrets.ts). `current()` takes expiry and names from the certificate itself, not from
 *   `expiresAt`, so a hand-written secret with a wrong date is still judged right. The deploy's placeholder
 *   (empty strings) or an unreadable value is "missing": the renewal replaces it.
 * - SecretsManagerAccountKey: the ACME account's private key. The deploy creates the secret with a random
 *   placeholder; the first renewal generates an ECDSA P-256 key and writes it, later renewals reuse it.
 *
 * Neither ever logs or returns a value beyond its caller. Throttling, 5xx and timeouts become
 * TransientError; anything else (no such secret, access denied, KMS decryption failure) CertificateStoreError.
 */
import { generateKeyPairSync } from 'node:crypto';
import { GetSecretValueCommand, PutSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CarrelError, TransientError } from '../../core/errors.js';
import type { CertificateStorePort, CurrentCertificate, IssuedCertificate } from '../../core/use-cases/renew-certificate.js';
import type { AccountKeySource } from '../acme-dns01.js';
import { certificateFacts } from '../x509-names.js';
import { isTransientAwsError } from './clients/errors.js';

/** A secret cannot be read or written for a reason retrying will not fix. */
export class CertificateStoreError extends CarrelError {}

const PRIVATE_KEY = /-----BEGIN ([A-Z]+ )?PRIVATE KEY-----/;

export class SecretsManagerCertificateStore implements CertificateStorePort {
  constructor(
    private readonly client: SecretsManagerClient,
    private readonly secretArn: string,
  ) {}

  async current(): Promise<CurrentCertificate> {
    const raw = await read(this.client, this.secretArn, 'the gate certificate');
    let json: { certificate?: unknown };
    try {
      json = JSON.parse(raw ?? '') as { certificate?: unknown };
    } catch {
      return { missing: 'the secret is not JSON {certificate, privateKey, expiresAt}' };
    }
    if (typeof json.certificate !== 'string' || json.certificate.trim() === '') return { missing: 'the secret holds no certificate yet' };
    try {
      return certificateFacts(json.certificate);
    } catch {
      return { missing: 'the secret holds a certificate that does not parse' };
    }
  }

  async save(issued: IssuedCertificate): Promise<void> {
    const value = JSON.stringify({ certificate: issued.certificate, privateKey: issued.privateKey, expiresAt: issued.expiresAt.toISOString() });
    await write(this.client, this.secretArn, value, 'the gate certificate');
  }
}

export class SecretsManagerAccountKey implements AccountKeySource {
  private key: string | undefined;

  constructor(
    private readonly client: SecretsManagerClient,
    private readonly secretArn: string,
    private readonly generate: () => string = generateAccountKey,
  ) {}

  async get(): Promise<string> {
    if (this.key) return this.key;
    const raw = (await read(this.client, this.secretArn, 'the ACME account key')) ?? '';
    if (PRIVATE_KEY.test(raw)) {
      this.key = raw;
      return raw;
    }
    // First use (the deploy's random placeholder). Two first runs at once each write a key: the later one
    // stays, and the CA simply knows one more account; nothing depends on which.
    const key = this.generate();
    await write(this.client, this.secretArn, key, 'the ACME account key');
    this.key = key;
    return key;
  }
}

/** ECDSA P-256 in PKCS#8 PEM (acme-client signs with it as ES256). */
export function generateAccountKey(): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

async function read(client: SecretsManagerClient, secretArn: string, what: string): Promise<string | undefined> {
  try {
    return (await client.send(new GetSecretValueCommand({ SecretId: secretArn }))).SecretString;
  } catch (error) {
    throw storeError(error, `Reading ${what}`);
  }
}

async function write(client: SecretsManagerClient, secretArn: string, value: string, what: string): Promise<void> {
  try {
    // The SDK fills ClientRequestToken once per call, so its own retries cannot create two versions.
    await client.send(new PutSecretValueCommand({ SecretId: secretArn, SecretString: value }));
  } catch (error) {
    throw storeError(error, `Writing ${what}`);
  }
}

function storeError(error: unknown, what: string): Error {
  const detail = error instanceof Error ? error.message : String(error);
  if (isTransientAwsError(error)) return new TransientError(`${what} failed for now: ${detail}`, { cause: error });
  const name = error && typeof error === 'object' ? (error as { name?: string }).name : undefined;
  return new CertificateStoreError(`${what} failed${name ? ` (${name})` : ''}: ${detail}`, { cause: error });
}
