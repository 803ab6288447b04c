/** Lambda entry point: GET /api/runs/{runId}. See docs/contracts.md, "Enclave runs". */
import { makeGetRunHandler } from '../runs.js';
import { awsRunsHandler } from '../runs-wiring.js';
import { runObjectsOnS3 } from '../aws-parts/enclave-runs.js';

// Records, the audit log and the stored manifests.
export const handler = awsRunsHandler(makeGetRunHandler, { objects: runObjectsOnS3() });
