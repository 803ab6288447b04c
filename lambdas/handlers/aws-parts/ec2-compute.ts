/** EC2 compute for the entry points that launch, stop or reconcile instances (see aws-wiring.ts WorkspaceKit). */
import { Ec2Compute } from '../../adapters/aws/ec2-compute.js';
import { ec2Client } from '../../adapters/aws/clients/ec2.js';
import type { WorkspaceKit } from '../aws-wiring.js';

/** Builds Ec2Compute for COMPUTE_KIND=ec2 (and refuses Fargate: a function wired with this serves EC2 only). */
export function ec2Compute(ec2: typeof ec2Client = ec2Client): NonNullable<WorkspaceKit['compute']> {
  return (compute, { config, log }) => {
    if (compute.kind !== 'ec2') throw new Error(`this function serves EC2 compute only (COMPUTE_KIND is ${compute.kind})`);
    return new Ec2Compute(ec2(), {
      deploymentId: config.deploymentId,
      launchTemplateId: compute.launchTemplateId,
      subnetIds: compute.subnetIds,
      securityGroupIds: compute.securityGroupIds,
      sizes: compute.sizes,
      hibernate: compute.hibernate,
      log,
    });
  };
}
