/**
 * What must outlive any deployment of the code: the single table, the desk's signing key and, with AWS
 * workspaces, the homes (EFS) and their backups. All are retained when the stack or the resource is removed;
 * the table also has deletion protection.
 */
import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import { TABLE_SCHEMA } from '../lambdas/adapters/aws/table-schema.js';
import type { CarrelConfig } from './config.js';
import { homeSnapshotRoleName } from './names.js';
import { WorkspaceHomes } from './constructs/workspace-homes.js';
import type { WorkspaceNetwork } from './constructs/workspace-network.js';

export interface StatefulStackProps extends StackProps {
  /** The deployment id (names the signing key's alias). */
  readonly deploymentId: string;
  /** With AWS workspaces: the network the homes' mount targets live in, and the homes' settings. */
  readonly workspaces?: {
    readonly network: WorkspaceNetwork;
    readonly homes: CarrelConfig['homes'];
    readonly backup: CarrelConfig['backup'];
    /** With the enclave enabled: the home-snapshot function's role may mount the homes read-only. */
    readonly enclave?: boolean;
  };
}

export class StatefulStack extends Stack {
  /**
   * The single table (docs/data-model.md). Encrypted with the AWS managed key `aws/dynamodb`: the table
   * holds workspace and catalog records (ids, states, hostnames, timestamps), not research data, and the
   * AWS managed key gives KMS encryption at rest with every use logged in CloudTrail, without a key policy
   * to maintain or `kms:GenerateDataKey*`/`kms:ReEncrypt*` wildcard grants on every function. Research data
   * (homes, enclave inputs and outputs) gets its own customer managed keys where it is stored.
   */
  readonly table: dynamodb.Table;
  /**
   * The desk's signing key: ECC P-256 (ES256) for gate cookies and agent tokens. The private key never
   * leaves KMS; gates verify with the public key only.
   */
  readonly signingKey: kms.Key;
  /** The homes file system and its backups (with AWS workspaces only). */
  readonly homes?: WorkspaceHomes;

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, props);
    const { partitionKey, sortKey, dueIndex, instanceIndex, reviewIndex } = TABLE_SCHEMA;
    const S = dynamodb.AttributeType.STRING;

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: partitionKey, type: S },
      sortKey: { name: sortKey, type: S },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Sparse index of records housekeeping must act on; projection ALL: housekeeping reads whole records from it.
    this.table.addGlobalSecondaryIndex({
      indexName: dueIndex.name,
      partitionKey: { name: dueIndex.partitionKey, type: S },
      sortKey: { name: dueIndex.sortKey, type: S },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    // Sparse index from a compute instance to its workspace; keys only: the adapter re-reads the record consistently.
    this.table.addGlobalSecondaryIndex({
      indexName: instanceIndex.name,
      partitionKey: { name: instanceIndex.partitionKey, type: S },
      projectionType: dynamodb.ProjectionType.KEYS_ONLY,
    });
    // Sparse index of enclave runs waiting for review (the reviewers' queue, oldest first). Projection ALL:
    // the queue shows each run's description and decisions without a read per run; runs are small.
    this.table.addGlobalSecondaryIndex({
      indexName: reviewIndex.name,
      partitionKey: { name: reviewIndex.partitionKey, type: S },
      sortKey: { name: reviewIndex.sortKey, type: S },
      projectionType: dynamodb.ProjectionType.ALL,
    });

    this.signingKey = new kms.Key(this, 'SigningKey', {
      description: `carrel ${props.deploymentId}: signs workspace gate cookies and agent tokens (ES256)`,
      keySpec: kms.KeySpec.ECC_NIST_P256,
      keyUsage: kms.KeyUsage.SIGN_VERIFY,
      alias: `alias/carrel/${props.deploymentId}/signing`,
      removalPolicy: RemovalPolicy.RETAIN,
      pendingWindow: Duration.days(30),
    });

    if (props.workspaces) {
      const { network } = props.workspaces;
      this.homes = new WorkspaceHomes(this, 'Homes', {
        deploymentId: props.deploymentId,
        vpc: network.vpc,
        subnets: network.privateSubnets,
        securityGroup: network.homesSecurityGroup,
        homes: props.workspaces.homes,
        backup: props.workspaces.backup,
        table: this.table,
        readOnlyRoleNames: props.workspaces.enclave ? [homeSnapshotRoleName(props.deploymentId)] : [],
      });
    }
  }
}
