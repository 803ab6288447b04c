/** Lambda entry point: POST /api/workspaces/{analysisId}/heartbeat. See docs/contracts.md. */
import { makeHeartbeatHandler } from '../app.js';
import { awsHandler } from '../aws-wiring.js';

export const handler = awsHandler(makeHeartbeatHandler);
