/** EC2 or Fargate compute, whichever COMPUTE_KIND names (see aws-wiring.ts WorkspaceKit). */
import { FargateCompute } from '../../adapters/aws/ecs-compute.js';
import { HomeTaskRoles, locationOfArn } from '../../adapters/aws/iam-home-roles.js';
import { ec2Client } from '../../adapters/aws/clients/ec2.js';
import { ecsClient } from '../../adapters/aws/clients/ecs.js';
import { iamClient } from '../../adapters/aws/clients/iam.js';
import type { WorkspaceKit } from '../aws-wiring.js';
import { ec2Compute } from './ec2-compute.js';

/** Fargate runs each home's task with its own IAM role (iam-home-roles.ts), hence the IAM client. */
export function awsCompute(
  clients: { readonly ec2?: typeof ec2Client; readonly ecs?: typeof ecsClient; readonly iam?: typeof iamClient } = {},
): NonNullable<WorkspaceKit['compute']> {
  const ec2 = ec2Compute(clients.ec2 ?? ec2Client);
  const ecs = clients.ecs ?? ecsClient;
  const iam = clients.iam ?? iamClient;
  return (compute, context) => {
    if (compute.kind === 'ec2') return ec2(compute, context);
    return new FargateCompute(ecs(), {
      deploymentId: context.config.deploymentId,
      clusterArn: compute.clusterArn,
      taskDefinitionArn: compute.taskDefinitionArn,
      subnetIds: compute.subnetIds,
      securityGroupIds: compute.securityGroupIds,
      sizes: compute.sizes,
      assignPublicIp: context.config.workspaces.address === 'public',
      fileSystemId: compute.fileSystemId,
      homeRoles: new HomeTaskRoles(iam(), {
        deploymentId: context.config.deploymentId,
        location: locationOfArn(compute.clusterArn),
        fileSystemId: compute.fileSystemId,
        log: context.log,
      }),
      log: context.log,
    });
  };
}
