/** Lambda entry point: enclave steps PrepareRun and CleanUpRun/CleanUpFailedRun (the run's own task role and task definitions). */
import { enclaveStepHandler } from '../enclave-wiring.js';
import { awsRunResources } from '../aws-parts/enclave-run-resources.js';

export const handler = enclaveStepHandler(['prepare-run', 'clean-up'], { credentials: awsRunResources() });
