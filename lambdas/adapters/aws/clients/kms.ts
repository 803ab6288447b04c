/** The KMS client (the desk's signing key, see kms-signer.ts). */
import { KMSClient } from '@aws-sdk/client-kms';
import { baseConfig, memoized, type AwsClientOptions } from './base.js';

export function kmsClient(options: AwsClientOptions = {}): KMSClient {
  return memoized('kms', options, () => new KMSClient(baseConfig(options)));
}
