/** Lambda entry point: POST /api/analyses/{analysisId}/runs. See docs/contracts.md, "Enclave runs". */
import { makeSubmitRunHandler } from '../runs.js';
import { awsRunsHandler } from '../runs-wiring.js';
import { sfnExecutions } from '../aws-parts/enclave-runs.js';

// Records the run (archiving) and starts its execution, whose first step archives the home: no object is touched here.
export const handler = awsRunsHandler(makeSubmitRunHandler, { executions: sfnExecutions() });
