/** The Secrets Manager client (the provisioner's SSH key and the gate certificate). */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { baseConfig, memoized, type AwsClientOptions } from './base.js';

export function secretsManagerClient(options: AwsClientOptions = {}): SecretsManagerClient {
  return memoized('secretsmanager', options, () => new SecretsManagerClient(baseConfig(options)));
}
