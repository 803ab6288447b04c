/** The SES (v2) client (the enclave's notices by email). */
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { baseConfig, memoized, type AwsClientOptions } from './base.js';

export function sesClient(options: AwsClientOptions = {}): SESv2Client {
  return memoized('sesv2', options, () => new SESv2Client(baseConfig(options)));
}
