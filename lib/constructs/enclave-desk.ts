/**
 * The desk's side of the enclave on AWS: one function per run route (docs/contracts.md, "Enclave runs"), each
 * with exactly the table, key, run-object and state-machine actions its use case needs, and (with AWS homes)
 * the home-snapshot function the submit route invokes.
 *
 * The home snapshot runs in the workspace VPC with the homes' EFS mounted through ONE access point: root at
 * the homes' parent directory (`/homes`), as the homes' POSIX owner, mounted with ClientMount only (no
 * ClientWrite, no ClientRootAccess: read-only). Its role is named so the homes' file-system policy (stateful
 * stack) can let it mount read-only and deny it writing (lib/constructs/workspace-homes.ts). Its network
 * reaches NFS on the homes and S3 (the gateway endpoint) only.
 */
import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as efs from 'aws-cdk-lib/aws-efs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { TABLE_SCHEMA } from '../../lambdas/adapters/aws/table-schema.js';
import type { RunEntry } from '../../lambdas/handlers/routes.js';
import { CarrelFunction } from '../lambda-function.js';
import { homeSnapshotRoleName } from '../names.js';
import type { EnclaveAws, EnclaveSettings, RunObjectFile } from './enclave-aws.js';

/** Where the snapshot function sees the homes (Lambda mounts EFS under /mnt). */
export const HOMES_MOUNT = '/mnt/homes';
/** The HTTP API answers within 30 s: the snapshot gets less, and the submit waits a little longer than it. */
const SNAPSHOT_TIMEOUT = Duration.seconds(24);
const SNAPSHOT_WAIT_SECONDS = 26;
const SUBMIT_TIMEOUT = Duration.seconds(29);

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
    description: 'POST /api/analyses/{analysisId}/runs: archive the home (home-snapshot function), record the run, start its execution',
    table: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query'],
    keyActions: ['kms:GetPublicKey'],
    read: ['manifest'],
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

export interface EnclaveDeskHomes {
  readonly vpc: ec2.IVpc;
  /** The subnets of the homes' mount targets (private, with the S3 gateway endpoint). */
  readonly subnets: ec2.ISubnet[];
  /** The mount targets' security group: NFS from the snapshot function is added to it. */
  readonly securityGroup: ec2.ISecurityGroup;
  readonly fileSystem: efs.IFileSystem;
  /** The homes' POSIX owner (config `homes.uid`/`gid`). */
  readonly uid: number;
  readonly gid: number;
}

export interface EnclaveDeskProps {
  readonly deploymentId: string;
  readonly enclave: EnclaveAws;
  readonly settings: EnclaveSettings;
  readonly table: dynamodb.ITable;
  /** The desk's signing key (sessions, download links). */
  readonly signingKey: kms.IKey;
  /** The desk's environment (deskEnvironment): the run functions are desk functions. */
  readonly deskEnvironment: Readonly<Record<string, string>>;
  /** With AWS workspaces: the homes the submit archives. @default - none: a submit answers 409 (no home) */
  readonly homes?: EnclaveDeskHomes;
  readonly logRetention: logs.RetentionDays;
  readonly logLevel?: string;
  /** Folder of the Lambda entry points. @default lambdas/handlers/entry */
  readonly entryDir?: string;
}

export class EnclaveDesk extends Construct {
  /** The run routes' functions by entry name (DeskApi routes them). */
  readonly functions: Readonly<Record<RunEntry, CarrelFunction>>;
  /** The home-snapshot function (with AWS homes). */
  readonly snapshot?: CarrelFunction;
  /** Its one access point on the homes (root `/homes`, the homes' owner). */
  readonly accessPoint?: efs.AccessPoint;

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

    if (props.homes) {
      const made = this.addSnapshot(props, props.homes);
      this.snapshot = made.fn;
      this.accessPoint = made.accessPoint;
    }

    const functions = {} as Record<RunEntry, CarrelFunction>;
    for (const [name, spec] of Object.entries(RUN_FUNCTION_SPECS) as [RunEntry, RunFunctionSpec][]) {
      const extra: Record<string, string> =
        name === 'submit-run'
          ? {
              STATE_MACHINE_ARN: enclave.machine.stateMachine.stateMachineArn,
              HOME_SNAPSHOT_TIMEOUT_SECONDS: String(SNAPSHOT_WAIT_SECONDS),
              ...(this.snapshot ? { HOME_SNAPSHOT_FUNCTION: this.snapshot.functionName } : {}),
            }
          : {};
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
      if (name === 'submit-run' && this.snapshot) fn.grantActions(['lambda:InvokeFunction'], [this.snapshot.functionArn]);
      functions[name] = fn;
    }
    this.functions = functions;
  }

  private addSnapshot(props: EnclaveDeskProps, homes: EnclaveDeskHomes): { fn: CarrelFunction; accessPoint: efs.AccessPoint } {
    const accessPoint = new efs.AccessPoint(this, 'HomesReader', {
      fileSystem: homes.fileSystem,
      path: '/homes',
      // As the homes' owner: each home is 0700 and owned by it. Read-only comes from the mount (no ClientWrite).
      posixUser: { uid: String(homes.uid), gid: String(homes.gid) },
      createAcl: { ownerUid: String(homes.uid), ownerGid: String(homes.gid), permissions: '755' },
    });
    const securityGroup = new ec2.SecurityGroup(this, 'SnapshotSecurityGroup', {
      vpc: homes.vpc,
      description: `carrel ${props.deploymentId} home snapshot: NFS to the homes and S3 only`,
      allowAllOutbound: false,
    });
    securityGroup.addEgressRule(homes.securityGroup, ec2.Port.tcp(2049), 'NFS to the homes mount targets');
    securityGroup.addEgressRule(ec2.Peer.prefixList(props.enclave.s3PrefixListId()), ec2.Port.tcp(443), 'S3 through the gateway endpoint');
    // In this stack (the homes' group is in the stateful stack, deployed first): NFS from the snapshot only.
    new ec2.CfnSecurityGroupIngress(this, 'HomesFromSnapshot', {
      groupId: homes.securityGroup.securityGroupId,
      sourceSecurityGroupId: securityGroup.securityGroupId,
      ipProtocol: 'tcp',
      fromPort: 2049,
      toPort: 2049,
      description: 'NFS from the home snapshot (read-only mount)',
    });

    const filesystem = new ReadOnlyMount({
      arn: accessPoint.accessPointArn,
      localMountPath: HOMES_MOUNT,
      dependency: [homes.fileSystem.mountTargetsAvailable],
      // ClientMount only, through this access point only: no ClientWrite, so the mount is read-only.
      policies: [
        new iam.PolicyStatement({
          actions: ['elasticfilesystem:ClientMount'],
          resources: [homes.fileSystem.fileSystemArn],
          conditions: { StringEquals: { 'elasticfilesystem:AccessPointArn': accessPoint.accessPointArn } },
        }),
      ],
    });
    const fn = new CarrelFunction(this, 'HomeSnapshot', {
      name: 'home-snapshot',
      description: `carrel ${props.deploymentId}: archive one home (read-only EFS) into the enclave's run objects`,
      environment: {
        HOMES_MOUNT,
        RUN_OBJECTS_BUCKET: props.enclave.runObjects.bucketName,
        RUN_OBJECTS_KEY_ID: props.enclave.key.keyArn,
      },
      timeout: SNAPSHOT_TIMEOUT,
      memorySize: 1024,
      // The archive is spooled to /tmp and sent in one PUT (S3 needs its length).
      ephemeralStorageMiB: 10_240,
      logRetention: props.logRetention,
      logLevel: props.logLevel,
      entryDir: props.entryDir,
      roleName: homeSnapshotRoleName(props.deploymentId),
      vpc: homes.vpc,
      vpcSubnets: { subnets: homes.subnets },
      securityGroups: [securityGroup],
      filesystem,
      // Invoked synchronously by submit, which answers the researcher: never retried behind their back.
      retryAttempts: 0,
    });
    props.enclave.grantWriteSubmission(fn);
    return { fn, accessPoint };
  }
}

/**
 * A Lambda file system with exactly the policies given. (`FileSystem.fromEfsAccessPoint` would also grant
 * ClientWrite and allow NFS from the function on the file system's own group, in the other stack.)
 */
class ReadOnlyMount extends lambda.FileSystem {
  constructor(config: lambda.FileSystemConfig) {
    super(config);
  }
}

function pascal(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase());
}
