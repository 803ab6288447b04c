/** Lambda entry point: POST /api/workspaces/{analysisId}/open. See docs/contracts.md. */
import { makeOpenHandler } from '../app.js';
import { awsHandler } from '../aws-wiring.js';
import { awsCompute } from '../aws-parts/compute.js';
import { efsHomes } from '../aws-parts/homes.js';
import { route53Hostnames } from '../aws-parts/hostnames.js';

// Launches or resumes compute with its home; a failed launch releases the hostname it may hold.
export const handler = awsHandler(makeOpenHandler, { compute: awsCompute(), homes: efsHomes(), hostnames: route53Hostnames() });
