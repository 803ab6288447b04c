/** Lambda entry point: POST /api/runs/{runId}/decisions. See docs/contracts.md, "Enclave runs". */
import { makeDecideRunHandler } from '../runs.js';
import { awsRunsHandler } from '../runs-wiring.js';
import { runObjectsOnS3, sfnTokens } from '../aws-parts/enclave-runs.js';

// Records the decision, then completes the waiting step (SendTaskSuccess).
export const handler = awsRunsHandler(makeDecideRunHandler, { objects: runObjectsOnS3(), tokens: sfnTokens() });
