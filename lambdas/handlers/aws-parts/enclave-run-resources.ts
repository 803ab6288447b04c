/** Enclave part: each run's own task role and task definitions (IAM and ECS), for the prepare-run and clean-up steps. */
import { ecsClient } from '../../adapters/aws/clients/ecs.js';
import { iamClient } from '../../adapters/aws/clients/iam.js';
import { AwsRunResources, runLocationOf } from '../../adapters/aws/run-resources.js';
import type { EnclaveKit } from '../enclave-wiring.js';

export const awsRunResources = (): NonNullable<EnclaveKit['credentials']> => (env, log) => {
  const missing = (['DEPLOYMENT_ID', 'RUN_TASK_FAMILY', 'OUTPUTS_BUCKET', 'DATASET_BUCKET_ARN'] as const).filter((name) => !env[name]);
  if (missing.length) throw new Error(`${missing.join(', ')} must be set for the run resources steps`);
  return new AwsRunResources(iamClient(), ecsClient(), {
    deploymentId: env.DEPLOYMENT_ID!,
    // The enclave key's ARN names the deployment's partition, region and account.
    location: runLocationOf(env.RUN_OBJECTS_KEY_ID),
    outputsBucket: env.OUTPUTS_BUCKET!,
    enclaveKeyArn: env.RUN_OBJECTS_KEY_ID,
    dataset: { bucketArn: env.DATASET_BUCKET_ARN!, prefix: env.DATASET_PREFIX, ...(env.DATASET_KEY_ARN ? { kmsKeyArn: env.DATASET_KEY_ARN } : {}) },
    taskFamily: env.RUN_TASK_FAMILY!,
    log,
  });
};
