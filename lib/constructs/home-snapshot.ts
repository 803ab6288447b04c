/**
 * The home-snapshot function: the enclave state machine's ArchiveHome step (invoked by the state machine only).
 * It archives one researcher's home into the run objects bucket and returns the manifest's digest into the
 * execution; it reads no table (the execution's input names the home).
 *
 * With AWS homes it runs in the workspace VPC with the homes' EFS mounted through ONE access point: root at the
 * homes' parent directory (`/homes`), as the homes' POSIX owner, mounted with ClientMount only (no ClientWrite, no
 * ClientRootAccess: read-only). Its role is named so the homes' file-system policy (stateful stack) can let it
 * mount read-only and deny it writing (lib/constructs/workspace-homes.ts). Its network reaches NFS on the homes and
 * S3 (the gateway endpoint) only. Without AWS homes it runs outside any VPC and refuses every submission (no home).
 */
import { Duration } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as efs from 'aws-cdk-lib/aws-efs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { CarrelFunction } from '../lambda-function.js';
import { homeSnapshotRoleName } from '../names.js';

/** Where the snapshot function sees the homes (Lambda mounts EFS under /mnt). */
export const HOMES_MOUNT = '/mnt/homes';
/** Lambda's ceiling: a large home may take minutes to archive (the state machine's timeout is the policy's, capped here). */
export const SNAPSHOT_TIMEOUT = Duration.minutes(15);

/** The homes on EFS (with AWS workspaces). */
export interface EnclaveHomes {
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

export interface HomeSnapshotFunctionProps {
  readonly deploymentId: string;
  /** The run objects bucket and its key (the function's environment). */
  readonly runObjectsBucketName: string;
  readonly runObjectsKeyArn: string;
  /** The AWS-managed S3 prefix list id (the security group's one S3 rule). Called only with `homes`. */
  readonly s3PrefixListId: () => string;
  /** @default - none: every submission fails with "no homes on AWS" */
  readonly homes?: EnclaveHomes;
  readonly logRetention: logs.RetentionDays;
  readonly logLevel?: string;
  /** Folder of the Lambda entry points. @default lambdas/handlers/entry */
  readonly entryDir?: string;
}

export class HomeSnapshotFunction extends Construct {
  readonly fn: CarrelFunction;
  /** Its one access point on the homes (root `/homes`, the homes' owner); with `homes` only. */
  readonly accessPoint?: efs.AccessPoint;

  constructor(scope: Construct, id: string, props: HomeSnapshotFunctionProps) {
    super(scope, id);
    const common = {
      name: 'home-snapshot',
      description: `carrel ${props.deploymentId} enclave step: archive-home (one home, read-only EFS, into the run objects)`,
      timeout: SNAPSHOT_TIMEOUT,
      // gzip runs on one core; Lambda gives CPU in proportion to memory (2 GiB: more than one vCPU).
      memorySize: 2048,
      // The archive is spooled to /tmp and sent in one PUT (S3 needs its length): up to 5 GiB (archive.ts MAX_ARCHIVE_BYTES).
      ephemeralStorageMiB: 10_240,
      logRetention: props.logRetention,
      logLevel: props.logLevel,
      entryDir: props.entryDir,
      roleName: homeSnapshotRoleName(props.deploymentId),
      // Step Functions retries and catches; an asynchronous retry by Lambda would only duplicate the step.
      retryAttempts: 0,
    };
    const environment = { RUN_OBJECTS_BUCKET: props.runObjectsBucketName, RUN_OBJECTS_KEY_ID: props.runObjectsKeyArn };
    const homes = props.homes;
    if (!homes) {
      this.fn = new CarrelFunction(this, 'Function', { ...common, environment });
      return;
    }

    const accessPoint = new efs.AccessPoint(this, 'HomesReader', {
      fileSystem: homes.fileSystem,
      path: '/homes',
      // As the homes' owner: each home is 0700 and owned by it. Read-only comes from the mount (no ClientWrite).
      posixUser: { uid: String(homes.uid), gid: String(homes.gid) },
      createAcl: { ownerUid: String(homes.uid), ownerGid: String(homes.gid), permissions: '755' },
    });
    this.accessPoint = accessPoint;
    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: homes.vpc,
      description: `carrel ${props.deploymentId} home snapshot: NFS to the homes and S3 only`,
      allowAllOutbound: false,
    });
    securityGroup.addEgressRule(homes.securityGroup, ec2.Port.tcp(2049), 'NFS to the homes mount targets');
    securityGroup.addEgressRule(ec2.Peer.prefixList(props.s3PrefixListId()), ec2.Port.tcp(443), 'S3 through the gateway endpoint');
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
    this.fn = new CarrelFunction(this, 'Function', {
      ...common,
      environment: { ...environment, HOMES_MOUNT },
      vpc: homes.vpc,
      vpcSubnets: { subnets: homes.subnets },
      securityGroups: [securityGroup],
      filesystem,
    });
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
