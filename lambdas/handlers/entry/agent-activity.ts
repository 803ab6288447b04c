/** Lambda entry point: POST /api/agent/activity (Bearer agent token). See docs/contracts.md. */
import { makeAgentActivityHandler } from '../app.js';
import { awsHandler } from '../aws-wiring.js';

export const handler = awsHandler(makeAgentActivityHandler);
