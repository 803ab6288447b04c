/**
 * The desk's run parts on AWS (runs-wiring.ts RunsKit): the run objects (S3), starting executions and
 * completing review steps (Step Functions). The desk archives no home: the state machine's first step does.
 */
import { s3Client } from '../../adapters/aws/clients/s3.js';
import { sfnClient } from '../../adapters/aws/clients/sfn.js';
import { S3CheckedLinks } from '../../adapters/aws/s3-checked-links.js';
import { S3ObjectStore } from '../../adapters/aws/s3-object-store.js';
import { SfnRunExecutions } from '../../adapters/aws/sfn-run-executions.js';
import { SfnTaskTokens } from '../../adapters/aws/sfn-task-tokens.js';
import type { RunsKit } from '../runs-wiring.js';

export const runObjectsOnS3 = (): NonNullable<RunsKit['objects']> => (env) => new S3ObjectStore(s3Client(), { bucket: env.RUN_OBJECTS_BUCKET, kmsKeyId: env.RUN_OBJECTS_KEY_ID });

export const sfnExecutions = (): NonNullable<RunsKit['executions']> => (env) => {
  if (!env.STATE_MACHINE_ARN) throw new Error('STATE_MACHINE_ARN must be set for the submit route');
  return new SfnRunExecutions(sfnClient(), { stateMachineArn: env.STATE_MACHINE_ARN });
};

export const sfnTokens = (): NonNullable<RunsKit['tokens']> => () => new SfnTaskTokens(sfnClient());

/** The download route: the whole outputs archive is checked, then served by S3 from a presigned link to that version. */
export const s3CheckedLinks = (): NonNullable<RunsKit['checkedLinks']> => (env) => new S3CheckedLinks(s3Client(), { bucket: env.RUN_OBJECTS_BUCKET });
