/** Lambda entry point: POST /api/workspaces/{analysisId}/stop. See docs/contracts.md. */
import { makeStopHandler } from '../app.js';
import { awsHandler } from '../aws-wiring.js';
import { awsCompute } from '../aws-parts/compute.js';
import { route53Hostnames } from '../aws-parts/hostnames.js';

export const handler = awsHandler(makeStopHandler, { compute: awsCompute(), hostnames: route53Hostnames() });
