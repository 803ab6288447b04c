/** Lambda entry point: POST /api/workspaces/{analysisId}/stop. See docs/contracts.md. */
import { makeStopHandler } from '../app.js';
import { awsHandler } from '../aws-wiring.js';

export const handler = awsHandler(makeStopHandler);
