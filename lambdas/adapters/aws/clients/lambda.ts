/** The Lambda client (invoking the provisioner). */
import { LambdaClient } from '@aws-sdk/client-lambda';
import { baseConfig, memoized, type AwsClientOptions } from './base.js';

export function lambdaClient(options: AwsClientOptions = {}): LambdaClient {
  return memoized('lambda', options, () => new LambdaClient(baseConfig(options)));
}
