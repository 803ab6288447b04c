/** Lambda entry point: enclave steps that record a state and tell people (review requests, advance, finish). */
import { enclaveStepHandler } from '../enclave-wiring.js';
import { sesNotices } from '../aws-parts/enclave-mail.js';

export const handler = enclaveStepHandler(['request-review', 'advance', 'finish'], { notifier: sesNotices() });
