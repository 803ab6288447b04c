/** Lambda entry point: GET /api/runs/{runId}/files/{path+}. See docs/contracts.md, "Enclave runs". */
import { makeRunFileHandler } from '../runs.js';
import { awsRunsHandler } from '../runs-wiring.js';
import { runObjectsOnS3 } from '../aws-parts/enclave-runs.js';

// One file out of a stored archive.
export const handler = awsRunsHandler(makeRunFileHandler, { objects: runObjectsOnS3() });
