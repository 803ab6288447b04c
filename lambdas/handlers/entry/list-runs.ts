/** Lambda entry point: GET /api/analyses/{analysisId}/runs. See docs/contracts.md, "Enclave runs". */
import { makeListRunsHandler } from '../runs.js';
import { awsRunsHandler } from '../runs-wiring.js';

// Records and signed download links only: no S3, Lambda or Step Functions client in this bundle.
export const handler = awsRunsHandler(makeListRunsHandler, {});
