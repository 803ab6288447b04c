/** The ECS client (Fargate compute). */
import { ECSClient } from '@aws-sdk/client-ecs';
import { ADAPTIVE, baseConfig, memoized, type AwsClientOptions } from './base.js';

export function ecsClient(options: AwsClientOptions = {}): ECSClient {
  return memoized('ecs', options, () => new ECSClient({ ...ADAPTIVE, ...baseConfig(options) }));
}
