/** Enclave part: release links, the desk's download route signed with the desk's KMS key (DeskReleaseLinks). */
import { kmsClient } from '../../adapters/aws/clients/kms.js';
import { KmsSigner } from '../../adapters/aws/kms-signer.js';
import { DeskReleaseLinks } from '../../adapters/release-links.js';
import type { EnclaveKit } from '../enclave-wiring.js';

export const deskReleaseLinks = (): NonNullable<EnclaveKit['links']> => (env) => {
  if (!env.SIGNING_KEY_ID || !env.DESK_ORIGIN) throw new Error('SIGNING_KEY_ID and DESK_ORIGIN must be set for the release step');
  return new DeskReleaseLinks(new KmsSigner(kmsClient(), env.SIGNING_KEY_ID), env.DESK_ORIGIN);
};
