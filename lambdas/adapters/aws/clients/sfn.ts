/** The Step Functions client (completing the enclave's waiting review steps). */
import { SFNClient } from '@aws-sdk/client-sfn';
import { baseConfig, memoized, type AwsClientOptions } from './base.js';

export function sfnClient(options: AwsClientOptions = {}): SFNClient {
  return memoized('sfn', options, () => new SFNClient(baseConfig(options)));
}
