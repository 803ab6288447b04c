/** Lambda entry point: GET /api/review/queue. See docs/contracts.md, "Enclave runs". */
import { makeReviewQueueHandler } from '../runs.js';
import { awsRunsHandler } from '../runs-wiring.js';

// Records only (the byReview index): no S3, Lambda or Step Functions client in this bundle.
export const handler = awsRunsHandler(makeReviewQueueHandler, {});
