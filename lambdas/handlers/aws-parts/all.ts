/**
 * Every workspace part over injectable SDK client factories: for tests and the AWS model bench, which build
 * the whole desk at once. Entry points never import this (each wires only its own parts, so its bundle holds
 * only its own SDK clients).
 */
import type { ec2Client } from '../../adapters/aws/clients/ec2.js';
import type { ecsClient } from '../../adapters/aws/clients/ecs.js';
import type { efsClient } from '../../adapters/aws/clients/efs.js';
import type { iamClient } from '../../adapters/aws/clients/iam.js';
import type { lambdaClient } from '../../adapters/aws/clients/lambda.js';
import type { route53Client } from '../../adapters/aws/clients/route53.js';
import type { WorkspaceKit } from '../aws-wiring.js';
import { awsCompute } from './compute.js';
import { awsComputeEventSources } from './compute-events.js';
import { efsHomes } from './homes.js';
import { route53Hostnames } from './hostnames.js';
import { lambdaProvisioner } from './provisioner.js';
import { stsTaskIdentity } from './task-identity.js';

/** The SDK client factories the workspace parts use (a test passes its own; unset: clients/<service>.ts). */
export interface AwsClients {
  readonly ec2?: typeof ec2Client;
  readonly ecs?: typeof ecsClient;
  readonly efs?: typeof efsClient;
  readonly route53?: typeof route53Client;
  readonly lambda?: typeof lambdaClient;
  readonly iam?: typeof iamClient;
}

export function allWorkspaceParts(clients: AwsClients = {}): Required<WorkspaceKit> {
  return {
    compute: awsCompute({ ec2: clients.ec2, ecs: clients.ecs, iam: clients.iam }),
    homes: efsHomes(clients.efs),
    hostnames: route53Hostnames(clients.route53),
    provisioner: lambdaProvisioner(clients.lambda),
    computeEventSources: awsComputeEventSources(clients.ec2),
    taskIdentity: stsTaskIdentity(),
  };
}
