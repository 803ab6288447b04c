/** Lambda entry point: EventBridge schedule: one housekeeping pass. See docs/contracts.md. */
import { makeHousekeepingHandler } from '../app.js';
import { awsHandler } from '../aws-wiring.js';

export const handler = awsHandler(makeHousekeepingHandler);
