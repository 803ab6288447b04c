/** The EC2 client (EC2 compute, the compute-event lookups, the provisioner's console reads). */
import { EC2Client } from '@aws-sdk/client-ec2';
import { ADAPTIVE, baseConfig, memoized, type AwsClientOptions } from './base.js';

export function ec2Client(options: AwsClientOptions = {}): EC2Client {
  return memoized('ec2', options, () => new EC2Client({ ...ADAPTIVE, ...baseConfig(options) }));
}
