/**
 * Lambda entry point: the enclave step ArchiveHome (invoked by the state machine only). Runs in the workspace VPC
 * with the homes' EFS mounted read-only at HOMES_MOUNT; archives one home into the run objects bucket
 * (lib/constructs/enclave-aws.ts). Without AWS homes (no HOMES_MOUNT) every submission is refused: no home.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { s3Client } from '../../adapters/aws/clients/s3.js';
import { S3ObjectStore } from '../../adapters/aws/s3-object-store.js';
import { MountedHomeSnapshots } from '../../adapters/mounted-home-snapshots.js';
import { ValidationError } from '../../core/errors.js';
import type { HomeSnapshots } from '../../core/runs/deps.js';
import { loadHomeSnapshotEnv, makeHomeSnapshotHandler } from '../home-snapshot.js';
import { powertoolsLog } from '../powertools-log.js';
import { loadRunsConfig } from '../runs-config.js';

const env = loadHomeSnapshotEnv(process.env);
const { exclude } = loadRunsConfig(process.env);
const objects = new S3ObjectStore(s3Client(), { bucket: env.RUN_OBJECTS_BUCKET, kmsKeyId: env.RUN_OBJECTS_KEY_ID });
const noHomes: HomeSnapshots = {
  snapshot: async (home) => {
    // A refusal with a message for the researcher (core makes it a failed run, and tells them).
    throw new ValidationError(`This deployment keeps no homes on AWS (no workspaces), so ${home.userId} has no home in ${home.analysisId} to submit`);
  },
};

export const handler = makeHomeSnapshotHandler(
  env.HOMES_MOUNT ? new MountedHomeSnapshots(env.HOMES_MOUNT, objects, exclude) : noHomes,
  powertoolsLog(new Logger({ serviceName: 'carrel-home-snapshot' })),
);
