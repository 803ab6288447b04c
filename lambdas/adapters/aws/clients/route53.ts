/** The Route 53 client (workspace hostnames). */
import { Route53Client } from '@aws-sdk/client-route-53';
import { ADAPTIVE, baseConfig, memoized, type AwsClientOptions } from './base.js';

export function route53Client(options: AwsClientOptions = {}): Route53Client {
  return memoized('route53', options, () => new Route53Client({ ...ADAPTIVE, ...baseConfig(options) }));
}
