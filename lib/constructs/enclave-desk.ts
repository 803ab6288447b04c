/**
 * The desk's side of the enclave on AWS: one function per run route (docs/contracts.md, "Enclave runs"), each
 * with exactly the table, key, run-object and state-machine actions its use case needs. The desk archives no
 * home: submit records the run and starts its execution, whose first step (the home-snapshot function,
 * home-snapshot.ts, owned by EnclaveAws) archives it.
 */
import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { TABLE_SCHEMA } from '../../lambdas/adapters/aws/table-schema.js';
import type { RunEntry } from '../../lambdas/handlers/routes.js';
import { CarrelFunction } from '../lambda-function.js';
import type { EnclaveAws, EnclaveSettings, RunObjectFile } from './enclave-aws.js';

/** Submit only records the run and starts its execution: seconds, well within the HTTP API's 30 s. */
const SUBMIT_TIMEOUT = Duration.seconds(15);

type TableAction = 'dynamodb:GetItem' | 'dynamodb:PutItem' | 'dynamodb:Query';

interface RunFunctionSpec {
  readonly description: string;
  /** On the table itself (the catalog, run records, the audit log). */
  readonly table: readonly TableAction[];
  /** Query on the byReview index. */
  readonly reviewIndex?: boolean;
  readonly keyActions: readonly ('kms:Sign' | 'kms:GetPublicKey')[];
  readonly read?: readonly RunObjectFile[];
  /** Of these, also GetObjectVersion: the collected outputs are read (and linked) at the version the run pinned. */
  readonly versions?: readonly RunObjectFile[];
  readonly start?: boolean;
  readonly taskResponse?: boolean;
  readonly timeout?: Duration;
  readonly memorySize?: number;
}

/** What each run route may do (change with the handler: lambdas/handlers/runs.ts, core/runs/api.ts). */
export const RUN_FUNCTION_SPECS: Readonly<Record<RunEntry, RunFunctionSpec>> = {
  'submit-run': {
    description: 'POST /api/analyses/{analysisId}/runs: record the run (archiving) and start its execution, which archives the home',
    table: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query'],
    keyActions: ['kms:GetPublicKey'],
    start: true,
    timeout: SUBMIT_TIMEOUT,
  },
  'list-runs': {
    description: "GET /api/analyses/{analysisId}/runs: the analysis's runs (signed download links for released ones)",
    table: ['dynamodb:GetItem', 'dynamodb:Query'],
    keyActions: ['kms:GetPublicKey', 'kms:Sign'],
  },
  'review-queue': {
    description: 'GET /api/review/queue: runs waiting for review (the sparse byReview index)',
    table: [],
    reviewIndex: true,
    keyActions: ['kms:GetPublicKey'],
  },
  'get-run': {
    description: 'GET /api/runs/{runId}: the run, its manifest and diff, outputs and audit log',
    table: ['dynamodb:GetItem', 'dynamodb:Query'],
    keyActions: ['kms:GetPublicKey', 'kms:Sign'],
    read: ['manifest', 'outputsManifest'],
    versions: ['outputsManifest'],
  },
  'run-file': {
    description: 'GET /api/runs/{runId}/files/{path+}: one submitted or output file (size-capped), with a diff',
    table: ['dynamodb:GetItem', 'dynamodb:Query'],
    keyActions: ['kms:GetPublicKey'],
    read: ['archive', 'manifest', 'outputs', 'outputsManifest'],
    versions: ['outputs', 'outputsManifest'],
    memorySize: 1024,
    timeout: Duration.seconds(25),
  },
  'decide-run': {
    description: 'POST /api/runs/{runId}/decisions: record and audit a decision, complete the waiting step',
    table: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query'],
    keyActions: ['kms:GetPublicKey'],
    taskResponse: true,
    timeout: Duration.seconds(15),
  },
  'download-run': {
    description: 'GET /api/runs/{runId}/download: released outputs, the version checked at release confirmed (HeadObject), then a presigned link to it',
    // PutItem: the audit entry of the download.
    table: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query'],
    keyActions: ['kms:GetPublicKey'],
    read: ['outputs'],
    versions: ['outputs'],
    memorySize: 1024,
    timeout: Duration.seconds(25),
  },
};

export interface EnclaveDeskProps {
  readonly deploymentId: string;
  readonly enclave: EnclaveAws;
  readonly settings: EnclaveSettings;
  readonly table: dynamodb.ITable;
  /** The desk's signing key (sessions, download links). */
  readonly signingKey: kms.IKey;
  /** The desk's environment (deskEnvironment): the run functions are desk functions. */
  readonly deskEnvironment: Readonly<Record<string, string>>;
  readonly logRetention: logs.RetentionDays;
  readonly logLevel?: string;
  /** Folder of the Lambda entry points. @default lambdas/handlers/entry */
  readonly entryDir?: string;
}

export class EnclaveDesk extends Construct {
  /** The run routes' functions by entry name (DeskApi routes them). */
  readonly functions: Readonly<Record<RunEntry, CarrelFunction>>;

  constructor(scope: Construct, id: string, props: EnclaveDeskProps) {
    super(scope, id);
    const { enclave, settings, table } = props;
    const runsEnvironment: Record<string, string> = {
      ...props.deskEnvironment,
      RUN_OBJECTS_BUCKET: enclave.runObjects.bucketName,
      RUN_OBJECTS_KEY_ID: enclave.key.keyArn,
      REVIEWER_ROLE: settings.reviewerRole,
      REQUIRED_APPROVALS: settings.twoApprovals ? '2' : '1',
      SMALL_COUNT_THRESHOLD: String(settings.smallCountThreshold),
      RELEASE_LINK_TTL_SECONDS: String(settings.releaseLinkTtlSeconds),
    };

    const functions = {} as Record<RunEntry, CarrelFunction>;
    for (const [name, spec] of Object.entries(RUN_FUNCTION_SPECS) as [RunEntry, RunFunctionSpec][]) {
      const extra: Record<string, string> = name === 'submit-run' ? { STATE_MACHINE_ARN: enclave.machine.stateMachine.stateMachineArn } : {};
      const fn = new CarrelFunction(this, pascal(name), {
        name,
        description: `carrel ${props.deploymentId}: ${spec.description}`,
        environment: { ...runsEnvironment, ...extra },
        timeout: spec.timeout,
        memorySize: spec.memorySize,
        logRetention: props.logRetention,
        logLevel: props.logLevel,
        entryDir: props.entryDir,
      });
      if (spec.table.length) fn.grantActions(spec.table, [table.tableArn]);
      if (spec.reviewIndex) fn.grantActions(['dynamodb:Query'], [`${table.tableArn}/index/${TABLE_SCHEMA.reviewIndex.name}`]);
      fn.grantActions(spec.keyActions, [props.signingKey.keyArn]);
      if (spec.read?.length) enclave.grantReadRunObjects(fn, spec.read, { versions: spec.versions });
      if (spec.start) enclave.grantStartRun(fn);
      if (spec.taskResponse) enclave.grantTaskResponse(fn);
      functions[name] = fn;
    }
    this.functions = functions;
  }
}

function pascal(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase());
}
