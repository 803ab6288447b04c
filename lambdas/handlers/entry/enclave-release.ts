/** Lambda entry point: enclave step Release (re-verify the approved outputs, the desk's expiring download link, email). */
import { enclaveStepHandler } from '../enclave-wiring.js';
import { s3RunObjects } from '../aws-parts/enclave-objects.js';
import { sesNotices } from '../aws-parts/enclave-mail.js';
import { deskReleaseLinks } from '../aws-parts/enclave-links.js';

export const handler = enclaveStepHandler(['release'], { objects: s3RunObjects(), notifier: sesNotices(), links: deskReleaseLinks() });
