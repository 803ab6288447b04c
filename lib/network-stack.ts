/**
 * The workspace network of one deployment (only with `computeKind` ec2 or fargate): VPC, NAT, gateway
 * endpoints, flow logs and security groups (lib/constructs/workspace-network.ts).
 *
 * Its own stack rather than part of the stateful one: the stateful stack keeps only data (table, signing key,
 * homes) and nothing in it needs changing when the network does; the network is shared by the stateful stack
 * (EFS mount targets) and the stateless one (launch template, tasks, the provisioner), so both depend on it and
 * it on nothing. It is termination-protected like the stateful stack: deleting it would strand the mount
 * targets of the homes. A deployment with `computeKind: none` has no network stack (today's behaviour).
 */
import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { CarrelConfig } from './config.js';
import { WorkspaceNetwork } from './constructs/workspace-network.js';

export interface NetworkStackProps extends StackProps {
  readonly config: CarrelConfig & { readonly computeKind: 'ec2' | 'fargate' };
}

export class NetworkStack extends Stack {
  readonly network: WorkspaceNetwork;

  constructor(scope: Construct, id: string, props: NetworkStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.network = new WorkspaceNetwork(this, 'Network', {
      deploymentId: config.deploymentId,
      computeKind: config.computeKind,
      vpc: config.vpc,
      allowedCidrs: config.allowedCidrs,
      gatePort: config.gatePort,
      workspaceAddress: config.workspaceAddress,
    });
  }
}
