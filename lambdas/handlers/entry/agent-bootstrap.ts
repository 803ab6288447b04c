/** Lambda entry point: POST /api/agent/bootstrap (a Fargate workspace task's signed identity). See docs/contracts.md. */
import { makeAgentBootstrapHandler } from '../app.js';
import { awsHandler } from '../aws-wiring.js';
import { stsTaskIdentity } from '../aws-parts/task-identity.js';

// Records, signing and the task identity (fetch to STS): no SDK client beyond DynamoDB and KMS.
export const handler = awsHandler(makeAgentBootstrapHandler, { taskIdentity: stsTaskIdentity() });
