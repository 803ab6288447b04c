/** Lambda entry point: GET /api/runs/{runId}/download. See docs/contracts.md, "Enclave runs". */
import { makeDownloadRunHandler } from '../runs.js';
import { awsRunsHandler } from '../runs-wiring.js';
import { runObjectsOnS3 } from '../aws-parts/enclave-runs.js';

// The released outputs, checked against the approved manifest before anything is sent.
export const handler = awsRunsHandler(makeDownloadRunHandler, { objects: runObjectsOnS3() });
