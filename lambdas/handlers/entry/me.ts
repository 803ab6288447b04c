/** Lambda entry point: GET /api/me. See docs/contracts.md. */
import { makeMeHandler } from '../app.js';
import { awsHandler } from '../aws-wiring.js';

export const handler = awsHandler(makeMeHandler);
