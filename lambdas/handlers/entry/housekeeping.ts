/** Lambda entry point: EventBridge schedule: one housekeeping pass. See docs/contracts.md. */
import { makeHousekeepingHandler } from '../app.js';
import { awsHandler } from '../aws-wiring.js';
import { awsCompute } from '../aws-parts/compute.js';
import { route53Hostnames } from '../aws-parts/hostnames.js';

// Idle stops, terminations and reconciliation of instances/tasks and ws-* records (homes are kept).
export const handler = awsHandler(makeHousekeepingHandler, { compute: awsCompute(), hostnames: route53Hostnames() });
