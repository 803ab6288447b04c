/** Lambda entry point: GET /api/workspaces/{analysisId}. See docs/contracts.md. */
import { makeStatusHandler } from '../app.js';
import { awsHandler } from '../aws-wiring.js';

export const handler = awsHandler(makeStatusHandler);
