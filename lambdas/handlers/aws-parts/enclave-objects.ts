/** Enclave part: the run objects bucket (S3) and the outputs collector that reads the run tasks' outputs. */
import { s3Client } from '../../adapters/aws/clients/s3.js';
import { S3ObjectStore } from '../../adapters/aws/s3-object-store.js';
import { S3OutputsCollector } from '../../adapters/aws/s3-outputs-collector.js';
import type { EnclaveKit } from '../enclave-wiring.js';

export const s3RunObjects = (): NonNullable<EnclaveKit['objects']> => (env) =>
  new S3ObjectStore(s3Client(), { bucket: env.RUN_OBJECTS_BUCKET, kmsKeyId: env.RUN_OBJECTS_KEY_ID });

export const s3OutputsCollector = (): NonNullable<EnclaveKit['collector']> => (env, objects, archives) => {
  if (!env.OUTPUTS_BUCKET) throw new Error('OUTPUTS_BUCKET must be set for the collect step');
  return new S3OutputsCollector(s3Client(), objects, archives, { outputsBucket: env.OUTPUTS_BUCKET });
};
