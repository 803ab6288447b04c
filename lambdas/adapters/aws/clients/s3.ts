/** The S3 client (the enclave's run objects and outputs). */
import { S3Client } from '@aws-sdk/client-s3';
import { baseConfig, memoized, type AwsClientOptions } from './base.js';

export function s3Client(options: AwsClientOptions = {}): S3Client {
  return memoized('s3', options, () => new S3Client(baseConfig(options)));
}
