/** Lambda entry point: enclave step CollectOutputs (the run's outputs prefix → archive + manifest). */
import { enclaveStepHandler } from '../enclave-wiring.js';
import { s3OutputsCollector, s3RunObjects } from '../aws-parts/enclave-objects.js';

export const handler = enclaveStepHandler(['collect-outputs'], { objects: s3RunObjects(), collector: s3OutputsCollector() });
