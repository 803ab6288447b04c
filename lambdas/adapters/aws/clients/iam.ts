/** IAM (the Fargate home task roles, iam-home-roles.ts); a control plane with low rate limits too. */
import { IAMClient } from '@aws-sdk/client-iam';
import { ADAPTIVE, baseConfig, memoized, type AwsClientOptions } from './base.js';

export function iamClient(options: AwsClientOptions = {}): IAMClient {
  return memoized('iam', options, () => new IAMClient({ ...ADAPTIVE, ...baseConfig(options) }));
}
