/**
 * Homes: one EFS file system per deployment (an access point per analysis and researcher is created by the
 * EFS adapter and kept), encrypted with its own KMS key, retained, mounted only over TLS, only with IAM
 * authorization, only through a mount target and an access point, and only by the workspace roles; and the
 * AWS Backup plan that backs it up (with the table) every day.
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as backup from 'aws-cdk-lib/aws-backup';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as efs from 'aws-cdk-lib/aws-efs';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Validations } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { CarrelConfig } from '../config.js';
import { homeRolePath } from '../../lambdas/adapters/aws/iam-home-roles.js';
import { workspaceRoleNames } from '../names.js';

/** The NFS client actions of EFS (IAM authorization of a mount). */
export const EFS_CLIENT_ACTIONS = ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite', 'elasticfilesystem:ClientRootAccess'] as const;

const IA_POLICIES: Record<number, efs.LifecyclePolicy> = {
  1: efs.LifecyclePolicy.AFTER_1_DAY,
  7: efs.LifecyclePolicy.AFTER_7_DAYS,
  14: efs.LifecyclePolicy.AFTER_14_DAYS,
  30: efs.LifecyclePolicy.AFTER_30_DAYS,
  60: efs.LifecyclePolicy.AFTER_60_DAYS,
  90: efs.LifecyclePolicy.AFTER_90_DAYS,
  180: efs.LifecyclePolicy.AFTER_180_DAYS,
  270: efs.LifecyclePolicy.AFTER_270_DAYS,
  365: efs.LifecyclePolicy.AFTER_365_DAYS,
};

export interface WorkspaceHomesProps {
  readonly deploymentId: string;
  readonly vpc: ec2.IVpc;
  /** Mount targets go here: the private subnets, one per zone. */
  readonly subnets: ec2.ISubnet[];
  /** The mount targets' group (NFS from workspaces only). */
  readonly securityGroup: ec2.ISecurityGroup;
  readonly homes: CarrelConfig['homes'];
  readonly backup: CarrelConfig['backup'];
  /** Also backed up by the plan. */
  readonly table: dynamodb.ITable;
  /**
   * Roles (by name) that may mount through an access point read-only: ClientMount, never ClientWrite or
   * ClientRootAccess (the enclave's home-snapshot function). @default - none
   */
  readonly readOnlyRoleNames?: readonly string[];
}

export class WorkspaceHomes extends Construct {
  readonly key: kms.Key;
  readonly fileSystem: efs.FileSystem;
  readonly vault: backup.BackupVault;
  readonly plan: backup.BackupPlan;

  constructor(scope: Construct, id: string, props: WorkspaceHomesProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const roles = workspaceRoleNames(props.deploymentId);
    // The workspace roles live in the stateless stack (deployed after this one) or are created per home by the
    // Fargate launcher: named, not referenced, and matched on aws:PrincipalArn (which carries the role's path)
    // so the policy is valid before they exist. The EC2 instance role, and every Fargate home role (each may
    // mount only its own access point: its identity policy and boundary say so, and this policy grants the
    // account, not the roles, so it adds nothing to them).
    const workspaceRoleArns = [
      `arn:${stack.partition}:iam::${stack.account}:role/${roles.instance}`,
      `arn:${stack.partition}:iam::${stack.account}:role${homeRolePath(props.deploymentId)}*`,
    ];
    const readOnlyRoleArns = (props.readOnlyRoleNames ?? []).map((name) => `arn:${stack.partition}:iam::${stack.account}:role/${name}`);

    this.key = new kms.Key(this, 'Key', {
      description: `carrel ${props.deploymentId}: encrypts the homes (EFS) and their backups`,
      enableKeyRotation: true,
      alias: `alias/carrel/${props.deploymentId}/homes`,
      removalPolicy: RemovalPolicy.RETAIN,
      pendingWindow: Duration.days(30),
    });

    const clientActions = [...EFS_CLIENT_ACTIONS];
    const fileSystemPolicy = new iam.PolicyDocument({
      statements: [
        new iam.PolicyStatement({
          sid: 'DenyWithoutTls',
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: ['*'],
          resources: ['*'],
          conditions: { Bool: { 'aws:SecureTransport': 'false' } },
        }),
        new iam.PolicyStatement({
          sid: 'DenyExceptThroughMountTargets',
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: clientActions,
          resources: ['*'],
          conditions: { Bool: { 'elasticfilesystem:AccessedViaMountTarget': 'false' } },
        }),
        new iam.PolicyStatement({
          // Anonymous (no IAM) mounts have no aws:PrincipalArn and are denied here too.
          sid: 'DenyExceptWorkspaceRoles',
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: clientActions,
          resources: ['*'],
          conditions: { ArnNotLike: { 'aws:PrincipalArn': [...workspaceRoleArns, ...readOnlyRoleArns] } },
        }),
        ...(readOnlyRoleArns.length
          ? [
              // Read-only readers: an explicit deny of writing and root access (whatever their identity policy says),
              // and ClientMount through an access point only.
              new iam.PolicyStatement({
                sid: 'DenyReadOnlyRolesWriteAndRoot',
                effect: iam.Effect.DENY,
                principals: [new iam.AnyPrincipal()],
                actions: ['elasticfilesystem:ClientWrite', 'elasticfilesystem:ClientRootAccess'],
                resources: ['*'],
                conditions: { ArnLike: { 'aws:PrincipalArn': readOnlyRoleArns } },
              }),
              new iam.PolicyStatement({
                sid: 'AllowReadOnlyRolesMountThroughAccessPoints',
                effect: iam.Effect.ALLOW,
                principals: [new iam.AccountRootPrincipal()],
                actions: ['elasticfilesystem:ClientMount'],
                resources: ['*'],
                conditions: {
                  ArnLike: { 'aws:PrincipalArn': readOnlyRoleArns },
                  Bool: { 'elasticfilesystem:AccessedViaMountTarget': 'true' },
                  Null: { 'elasticfilesystem:AccessPointArn': 'false' },
                },
              }),
            ]
          : []),
        new iam.PolicyStatement({
          sid: 'AllowWorkspaceRolesThroughAccessPoints',
          effect: iam.Effect.ALLOW,
          principals: [new iam.AccountRootPrincipal()],
          actions: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
          resources: ['*'],
          conditions: {
            ArnLike: { 'aws:PrincipalArn': workspaceRoleArns },
            Bool: { 'elasticfilesystem:AccessedViaMountTarget': 'true' },
            Null: { 'elasticfilesystem:AccessPointArn': 'false' },
          },
        }),
      ],
    });

    this.fileSystem = new efs.FileSystem(this, 'FileSystem', {
      vpc: props.vpc,
      vpcSubnets: { subnets: props.subnets },
      securityGroup: props.securityGroup,
      encrypted: true,
      kmsKey: this.key,
      performanceMode: efs.PerformanceMode.GENERAL_PURPOSE,
      throughputMode: props.homes.throughputMode === 'elastic' ? efs.ThroughputMode.ELASTIC : efs.ThroughputMode.BURSTING,
      lifecyclePolicy: IA_POLICIES[props.homes.transitionToIADays],
      outOfInfrequentAccessPolicy: efs.OutOfInfrequentAccessPolicy.AFTER_1_ACCESS,
      removalPolicy: RemovalPolicy.RETAIN,
      // The plan below backs the homes up; EFS automatic backups would add a second, fixed 35-day copy.
      enableAutomaticBackups: false,
      fileSystemPolicy,
      // The policy above is stricter than what CDK appends when this is false (an Allow of ClientWrite and
      // ClientRootAccess to any principal through a mount target): nobody gets root access, only the
      // workspace roles mount, and only through an access point.
      allowAnonymousAccess: true,
      fileSystemName: `carrel-${props.deploymentId}-homes`,
    });

    this.vault = new backup.BackupVault(this, 'Vault', {
      backupVaultName: `carrel-${props.deploymentId}`,
      encryptionKey: this.key,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.plan = new backup.BackupPlan(this, 'Plan', {
      backupPlanName: `carrel-${props.deploymentId}-daily`,
      backupVault: this.vault,
      backupPlanRules: [
        new backup.BackupPlanRule({
          ruleName: 'Daily',
          scheduleExpression: events.Schedule.expression(props.backup.schedule),
          startWindow: Duration.hours(1),
          completionWindow: Duration.hours(8),
          deleteAfter: Duration.days(props.backup.retentionDays),
        }),
      ],
    });
    const selection = this.plan.addSelection('HomesAndTable', {
      resources: [backup.BackupResource.fromEfsFileSystem(this.fileSystem), backup.BackupResource.fromDynamoDbTable(props.table)],
      allowRestores: false,
    });
    Validations.of(selection).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup]',
      reason:
        'The AWS Backup service role policy is the one AWS documents for backup selections and keeps current as services change; the role is assumable only by backup.amazonaws.com and used only by this plan, whose selection is the homes file system and the table.',
    });
  }
}
