/**
 * Lambda entry point: the home snapshot (invoked by submit-run). Runs in the VPC with the homes' EFS mounted
 * read-only at HOMES_MOUNT; archives one home into the run objects bucket (lib/constructs/enclave-aws.ts).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { s3Client } from '../../adapters/aws/clients/s3.js';
import { S3ObjectStore } from '../../adapters/aws/s3-object-store.js';
import { MountedHomeSnapshots } from '../../adapters/mounted-home-snapshots.js';
import { loadHomeSnapshotEnv, makeHomeSnapshotHandler } from '../home-snapshot.js';
import { powertoolsLog } from '../powertools-log.js';
import { loadRunsConfig } from '../runs-config.js';

const env = loadHomeSnapshotEnv(process.env);
const { exclude } = loadRunsConfig(process.env);
const objects = new S3ObjectStore(s3Client(), { bucket: env.RUN_OBJECTS_BUCKET, kmsKeyId: env.RUN_OBJECTS_KEY_ID });

export const handler = makeHomeSnapshotHandler(new MountedHomeSnapshots(env.HOMES_MOUNT, objects, exclude), powertoolsLog(new Logger({ serviceName: 'carrel-home-snapshot' })));
