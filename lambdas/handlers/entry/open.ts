/** Lambda entry point: POST /api/workspaces/{analysisId}/open. See docs/contracts.md. */
import { makeOpenHandler } from '../app.js';
import { awsHandler } from '../aws-wiring.js';

export const handler = awsHandler(makeOpenHandler);
