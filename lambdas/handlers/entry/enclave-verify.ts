/** Lambda entry point: enclave step VerifyArchive (the submitted archive matches its manifest). */
import { enclaveStepHandler } from '../enclave-wiring.js';
import { s3RunObjects } from '../aws-parts/enclave-objects.js';

export const handler = enclaveStepHandler(['verify-archive'], { objects: s3RunObjects() });
