/** Lambda entry point: enclave step CheckDisclosure (small counts in the collected outputs). */
import { enclaveStepHandler } from '../enclave-wiring.js';
import { s3RunObjects } from '../aws-parts/enclave-objects.js';

export const handler = enclaveStepHandler(['check-disclosure'], { objects: s3RunObjects() });
