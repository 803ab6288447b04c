/** Lambda entry point: enclave step Release (re-verify the approved outputs, expiring link, email). */
import { enclaveStepHandler } from '../enclave-wiring.js';
import { s3RunObjects } from '../aws-parts/enclave-objects.js';
import { sesNotices } from '../aws-parts/enclave-mail.js';

export const handler = enclaveStepHandler(['release'], { objects: s3RunObjects(), notifier: sesNotices() });
