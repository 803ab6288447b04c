/**
 * Everything that can be replaced by a redeploy: the desk's functions, HTTP API, static site and
 * schedules. State lives in the StatefulStack and is passed in.
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { CarrelConfig } from './config.js';
import { DeskApi } from './constructs/desk-api.js';
import { DeskFunctions, deskEnvironment } from './constructs/desk-functions.js';
import { DeskSchedules } from './constructs/desk-schedules.js';
import { DeskSite } from './constructs/desk-site.js';
import { EnclaveAws } from './constructs/enclave-aws.js';
import { EnclaveDesk } from './constructs/enclave-desk.js';
import { GateCertificateRenewal } from './constructs/gate-certificate-renewal.js';
import { FargateWorkspaces } from './constructs/workspace-compute.js';
import type { WorkspaceHomes } from './constructs/workspace-homes.js';
import type { WorkspaceNetwork } from './constructs/workspace-network.js';
import { Workspaces } from './constructs/workspaces.js';

export interface StatelessStackProps extends StackProps {
  readonly config: CarrelConfig;
  readonly table: dynamodb.ITable;
  readonly signingKey: kms.IKey;
  /** Folder with the built front desk (dist/frontend); deployed when it exists. @default - nothing deployed */
  readonly siteAssetDir?: string;
  /** Folder of the Lambda entry points. @default lambdas/handlers/entry */
  readonly entryDir?: string;
  /** With `computeKind` ec2 or fargate: the network and the homes the workspaces use. */
  readonly workspaces?: { readonly network: WorkspaceNetwork; readonly homes: WorkspaceHomes };
}

export class StatelessStack extends Stack {
  /** AWS workspaces (compute, zone, certificate, provisioner); absent with `computeKind: none`. */
  readonly workspaces?: Workspaces;
  /** With workspaces: the ACME DNS-01 renewal of the gates' certificate (daily and at deploy). */
  readonly gateCertificateRenewal?: GateCertificateRenewal;
  readonly functions: DeskFunctions;
  readonly api: DeskApi;
  readonly site: DeskSite;
  readonly schedules: DeskSchedules;
  /** The enclave (state machine, buckets, isolated network, build and run); with `enclave.enabled` only. */
  readonly enclave?: EnclaveAws;
  /** The run routes' functions and the home snapshot; with `enclave.enabled` only. */
  readonly enclaveDesk?: EnclaveDesk;

  constructor(scope: Construct, id: string, props: StatelessStackProps) {
    super(scope, id, props);
    const { config } = props;
    const logRetention = config.logRetentionDays as logs.RetentionDays;

    if (props.workspaces) {
      const { computeKind, hostedZone } = config;
      if (computeKind === 'none' || !hostedZone) throw new Error('StatelessStack: workspaces need computeKind ec2 or fargate and a hostedZone');
      this.workspaces = new Workspaces(this, 'Workspaces', {
        config: { ...config, computeKind, hostedZone },
        network: props.workspaces.network,
        fileSystemId: props.workspaces.homes.fileSystem.fileSystemId,
        fileSystemArn: props.workspaces.homes.fileSystem.fileSystemArn,
        table: props.table,
        signingKey: props.signingKey,
        deskEnvironment: deskEnvironment(config, props.table.tableName, props.signingKey.keyArn),
        logRetention,
        entryDir: props.entryDir,
      });
      this.gateCertificateRenewal = new GateCertificateRenewal(this, 'GateCertificateRenewal', {
        deploymentId: config.deploymentId,
        deskDomain: config.deskDomain,
        zone: this.workspaces.zone,
        certificateSecret: this.workspaces.certificateSecret,
        acmeDirectoryUrl: config.gateCertificate.acmeDirectoryUrl,
        contactEmail: config.gateCertificate.contactEmail,
        renewBeforeDays: config.gateCertificate.renewBeforeDays,
        logRetention,
        logLevel: config.logLevel,
        entryDir: props.entryDir,
      });
    }

    this.functions = new DeskFunctions(this, 'Functions', {
      config,
      table: props.table,
      signingKey: props.signingKey,
      logRetention,
      entryDir: props.entryDir,
      workspaces: this.workspaces,
    });
    const fns = this.functions.functions;

    const { enclave } = config;
    if (enclave.enabled) {
      // Validated in lib/config.ts: an enabled enclave has a dataset and a sender.
      this.enclave = new EnclaveAws(this, 'Enclave', {
        deploymentId: config.deploymentId,
        settings: { ...enclave, dataset: enclave.dataset!, mailFrom: enclave.mailFrom! },
        table: props.table,
        signingKey: props.signingKey,
        deskOrigin: `https://${config.deskDomain}`,
        homes: props.workspaces
          ? {
              vpc: props.workspaces.network.vpc,
              subnets: props.workspaces.network.privateSubnets,
              securityGroup: props.workspaces.network.homesSecurityGroup,
              fileSystem: props.workspaces.homes.fileSystem,
              uid: config.homes.uid,
              gid: config.homes.gid,
            }
          : undefined,
        logRetention,
        logLevel: config.logLevel,
        entryDir: props.entryDir,
      });
      this.enclaveDesk = new EnclaveDesk(this, 'EnclaveDesk', {
        deploymentId: config.deploymentId,
        enclave: this.enclave,
        settings: { ...enclave, dataset: enclave.dataset!, mailFrom: enclave.mailFrom! },
        table: props.table,
        signingKey: props.signingKey,
        deskEnvironment: deskEnvironment(config, props.table.tableName, props.signingKey.keyArn),
        logRetention,
        logLevel: config.logLevel,
        entryDir: props.entryDir,
      });
      new CfnOutput(this, 'EnclaveStateMachineArn', { value: this.enclave.machine.stateMachine.stateMachineArn });
      new CfnOutput(this, 'EnclaveRunObjectsBucket', { value: this.enclave.runObjects.bucketName });
    }

    this.api = new DeskApi(this, 'Api', {
      deploymentId: config.deploymentId,
      functions: fns,
      runFunctions: this.enclaveDesk?.functions,
      rateLimit: config.api.rateLimit,
      burstLimit: config.api.burstLimit,
      logRetention,
    });

    this.site = new DeskSite(this, 'Site', {
      deploymentId: config.deploymentId,
      deskDomain: config.deskDomain,
      certificateArn: config.certificateArn,
      hostedZone: config.hostedZone,
      apiDomainName: this.api.domainName,
      assetDir: props.siteAssetDir,
      logRetentionDays: config.logRetentionDays,
    });

    this.schedules = new DeskSchedules(this, 'Schedules', {
      deploymentId: config.deploymentId,
      housekeeping: fns.housekeeping,
      computeEvents: fns['compute-events'],
      computeKind: config.computeKind,
      ecsClusterArn: this.workspaces?.compute instanceof FargateWorkspaces ? this.workspaces.compute.cluster.clusterArn : undefined,
      computeEventsDeadLetterQueue: this.functions.deadLetterQueues['compute-events'],
    });

    new CfnOutput(this, 'DeskUrl', {
      description: 'The front desk',
      value: config.certificateArn ? `https://${config.deskDomain}/` : `https://${this.site.distribution.distributionDomainName}/`,
    });
    new CfnOutput(this, 'DistributionDomainName', { value: this.site.distribution.distributionDomainName });
    new CfnOutput(this, 'ApiEndpoint', { value: this.api.httpApi.apiEndpoint });
    if (this.workspaces) {
      new CfnOutput(this, 'GateCertificateSecretArn', {
        description: 'The gates\' certificate {"certificate": PEM chain for *.<deskDomain>, "privateKey": PEM, "expiresAt": ISO date}, renewed daily with ACME DNS-01',
        value: this.workspaces.certificateSecret.secretArn,
      });
    }
    const deadLetters = this.functions.deadLetterQueues['compute-events'];
    if (deadLetters) {
      new CfnOutput(this, 'ComputeEventsDeadLetterQueue', {
        description: 'State changes compute-events could not process after retries (AWS/SQS ApproximateNumberOfMessagesVisible)',
        value: deadLetters.queueName,
      });
    }
  }
}
