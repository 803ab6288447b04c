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
import { DeskFunctions } from './constructs/desk-functions.js';
import { DeskSchedules } from './constructs/desk-schedules.js';
import { DeskSite } from './constructs/desk-site.js';

export interface StatelessStackProps extends StackProps {
  readonly config: CarrelConfig;
  readonly table: dynamodb.ITable;
  readonly signingKey: kms.IKey;
  /** Folder with the built front desk (dist/frontend); deployed when it exists. @default - nothing deployed */
  readonly siteAssetDir?: string;
  /** Folder of the Lambda entry points. @default lambdas/handlers/entry */
  readonly entryDir?: string;
}

export class StatelessStack extends Stack {
  readonly functions: DeskFunctions;
  readonly api: DeskApi;
  readonly site: DeskSite;
  readonly schedules: DeskSchedules;

  constructor(scope: Construct, id: string, props: StatelessStackProps) {
    super(scope, id, props);
    const { config } = props;
    const logRetention = config.logRetentionDays as logs.RetentionDays;

    this.functions = new DeskFunctions(this, 'Functions', {
      config,
      table: props.table,
      signingKey: props.signingKey,
      logRetention,
      entryDir: props.entryDir,
    });
    const fns = this.functions.functions;

    this.api = new DeskApi(this, 'Api', {
      deploymentId: config.deploymentId,
      functions: fns,
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
    });

    new CfnOutput(this, 'DeskUrl', {
      description: 'The front desk',
      value: config.certificateArn ? `https://${config.deskDomain}/` : `https://${this.site.distribution.distributionDomainName}/`,
    });
    new CfnOutput(this, 'DistributionDomainName', { value: this.site.distribution.distributionDomainName });
    new CfnOutput(this, 'ApiEndpoint', { value: this.api.httpApi.apiEndpoint });
  }
}
