/** Lambda entry point: EventBridge: compute state changes → handleComputeEvent. See docs/contracts.md. */
import { makeComputeEventsHandler } from '../app.js';
import { awsHandler } from '../aws-wiring.js';

export const handler = awsHandler(makeComputeEventsHandler);
