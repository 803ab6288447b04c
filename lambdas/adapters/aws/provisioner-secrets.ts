/**
 * The provisioner's two secrets in Secrets Manager: its SSH private key (`PROVISIONER_SSH_KEY_SECRET_ARN`:
 * the key itself, or JSON `{privateKey}`) and the gate's wildcard certificate
 * (`GATE_CERTIFICATE_SECRET_ARN`: JSON `{certificate, privateKey, expiresAt}`). Each is read at most once
 * every few minutes per container, so a renewed certificate is picked up without a redeploy.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod';
import { CarrelError } from '../../core/errors.js';
import { rethrowAwsError } from './clients/errors.js';

export interface GateCertificate {
  /** PEM, leaf first (a full chain is fine). */
  readonly certificate: string;
  readonly privateKey: string;
}

/** Secrets the provisioner reads. */
export interface ProvisionSecrets {
  /** The provisioner's SSH private key (OpenSSH or PEM). */
  sshPrivateKey(): Promise<string>;
  /** The wildcard certificate of `*.<desk domain>` and its key. */
  gateCertificate(): Promise<GateCertificate>;
}

/** A secret is missing, malformed or expired (retrying will not help). */
export class ProvisionSecretError extends CarrelError {}

const certificateSecret = z.object({
  certificate: z.string({ error: 'is required' }).includes('-----BEGIN CERTIFICATE-----', { error: 'must be a PEM certificate' }),
  privateKey: z.string({ error: 'is required' }).regex(/-----BEGIN ([A-Z]+ )?PRIVATE KEY-----/, { error: 'must be a PEM private key' }),
  expiresAt: z.string().optional(),
});

export class SecretsManagerProvisionSecrets implements ProvisionSecrets {
  private readonly cache = new Map<string, { readonly value: string; readonly at: number }>();

  constructor(
    private readonly client: SecretsManagerClient,
    private readonly sshKeySecretArn: string,
    private readonly certificateSecretArn: string,
    private readonly ttlMs = 5 * 60_000,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async sshPrivateKey(): Promise<string> {
    const raw = await this.read(this.sshKeySecretArn, "the provisioner's SSH key");
    let value: unknown = raw;
    if (raw.trim().startsWith('{')) {
      try {
        value = (JSON.parse(raw) as { privateKey?: unknown }).privateKey;
      } catch {
        value = undefined;
      }
    }
    if (typeof value !== 'string' || !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(value)) {
      throw new ProvisionSecretError("The provisioner's SSH key secret does not hold a private key");
    }
    return `${value.trim()}\n`;
  }

  async gateCertificate(): Promise<GateCertificate> {
    const raw = await this.read(this.certificateSecretArn, 'the gate certificate');
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      throw new ProvisionSecretError('The gate certificate secret is not JSON {certificate, privateKey, expiresAt}');
    }
    const parsed = certificateSecret.safeParse(json);
    if (!parsed.success) {
      throw new ProvisionSecretError(`The gate certificate secret is malformed: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`);
    }
    const { certificate, privateKey, expiresAt } = parsed.data;
    if (expiresAt && Date.parse(expiresAt) <= this.now().getTime()) {
      throw new ProvisionSecretError(`The gate certificate expired at ${expiresAt} and has not been renewed`);
    }
    return { certificate, privateKey };
  }

  private async read(arn: string, what: string): Promise<string> {
    const cached = this.cache.get(arn);
    if (cached && this.now().getTime() - cached.at < this.ttlMs) return cached.value;
    let value: string | undefined;
    try {
      value = (await this.client.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString;
    } catch (error) {
      rethrowAwsError(error, `Reading ${what}`);
    }
    if (!value) throw new ProvisionSecretError(`The secret holding ${what} is empty`);
    this.cache.set(arn, { value, at: this.now().getTime() });
    return value;
  }
}
