/** The EFS client (homes: one access point per analysis). */
import { EFSClient } from '@aws-sdk/client-efs';
import { ADAPTIVE, baseConfig, memoized, type AwsClientOptions } from './base.js';

export function efsClient(options: AwsClientOptions = {}): EFSClient {
  return memoized('efs', options, () => new EFSClient({ ...ADAPTIVE, ...baseConfig(options) }));
}
