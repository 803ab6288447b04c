/** The provisioner Lambda, invoked asynchronously when an EC2 workspace runs (see aws-wiring.ts WorkspaceKit). */
import { LambdaProvisioner } from '../../adapters/aws/lambda-provisioner.js';
import { lambdaClient } from '../../adapters/aws/clients/lambda.js';
import type { WorkspaceKit } from '../aws-wiring.js';

export function lambdaProvisioner(lambda: typeof lambdaClient = lambdaClient): NonNullable<WorkspaceKit['provisioner']> {
  return (functionName) => new LambdaProvisioner(lambda(), functionName);
}
