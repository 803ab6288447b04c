/** Lambda entry point: POST /api/analyses/{analysisId}/runs. See docs/contracts.md, "Enclave runs". */
import { makeSubmitRunHandler } from '../runs.js';
import { awsRunsHandler } from '../runs-wiring.js';
import { lambdaSnapshots, runObjectsOnS3, sfnExecutions } from '../aws-parts/enclave-runs.js';

// Archives the home through the home-snapshot function, reads its manifest, starts the execution.
export const handler = awsRunsHandler(makeSubmitRunHandler, { objects: runObjectsOnS3(), snapshots: lambdaSnapshots(), executions: sfnExecutions() });
