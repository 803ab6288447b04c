/** Lambda entry point: GET /api/workspaces/{analysisId}. See docs/contracts.md. */
import { makeStatusHandler } from '../app.js';
import { awsHandler } from '../aws-wiring.js';

// Records and signing only: no workspace part, so no compute, EFS, Route 53 or Lambda client in this bundle.
export const handler = awsHandler(makeStatusHandler);
