/** Lambda entry point: GET /api/runs/{runId}/download. See docs/contracts.md, "Enclave runs". */
import { makeDownloadRunHandler } from '../runs.js';
import { awsRunsHandler } from '../runs-wiring.js';
import { runObjectsOnS3, s3CheckedLinks } from '../aws-parts/enclave-runs.js';

// The released outputs, checked against the approved manifest before anything is sent: the whole archive
// then by a presigned link to that object version (S3 serves it), one output file through the desk.
export const handler = awsRunsHandler(makeDownloadRunHandler, { objects: runObjectsOnS3(), checkedLinks: s3CheckedLinks() });
