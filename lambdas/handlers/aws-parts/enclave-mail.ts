/** Enclave part: notices by email (SES v2) from the deployment's verified sender. */
import { sesClient } from '../../adapters/aws/clients/sesv2.js';
import { SesNotifier } from '../../adapters/aws/ses-notifier.js';
import type { EnclaveKit } from '../enclave-wiring.js';

export const sesNotices = (): NonNullable<EnclaveKit['notifier']> => (env, log) => {
  if (!env.MAIL_FROM) throw new Error('MAIL_FROM must be set for the steps that send notices');
  return new SesNotifier(sesClient(), { from: env.MAIL_FROM, configurationSet: env.MAIL_CONFIGURATION_SET, log });
};
