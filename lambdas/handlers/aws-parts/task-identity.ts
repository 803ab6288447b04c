/** The Fargate task identity (signed sts:GetCallerIdentity, forwarded with fetch: no SDK client). See aws-wiring.ts WorkspaceKit. */
import { StsTaskIdentity } from '../../adapters/aws/sts-task-identity.js';
import type { WorkspaceKit } from '../aws-wiring.js';

export function stsTaskIdentity(): NonNullable<WorkspaceKit['taskIdentity']> {
  return (compute, context) => new StsTaskIdentity({ deploymentId: context.config.deploymentId, clusterArn: compute.clusterArn, serverId: context.config.deskDomain });
}
