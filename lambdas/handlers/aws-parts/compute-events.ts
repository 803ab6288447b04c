/** How raw EC2 and ECS state-change events map to workspaces (see aws-wiring.ts WorkspaceKit). */
import { ec2InstanceLookup, ec2PublicIpLookup } from '../../adapters/aws/compute-event-mapping.js';
import { ec2Client } from '../../adapters/aws/clients/ec2.js';
import type { WorkspaceKit } from '../aws-wiring.js';

export function awsComputeEventSources(ec2: typeof ec2Client = ec2Client): NonNullable<WorkspaceKit['computeEventSources']> {
  return (compute, { config }) => {
    const { deploymentId } = config;
    const { address, gatePort } = config.workspaces;
    if (compute.kind === 'ec2') return { ec2: { lookup: ec2InstanceLookup(() => ec2(), { deploymentId, address, gatePort }) } };
    return { ecs: { deploymentId, gatePort, address, ...(address === 'public' ? { publicIp: ec2PublicIpLookup(() => ec2()) } : {}) } };
  };
}
