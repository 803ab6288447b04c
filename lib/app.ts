/**
 * Composition of the CDK app: the stateful and stateless stacks of one deployment, its tag, and
 * cdk-nag's AwsSolutions checks on everything. Used by bin/carrel.ts and by the infra tests.
 */
import { join } from 'node:path';
import { Tags, Validations, type App } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { CarrelConfig } from './config.js';
import { PROJECT_ROOT } from './lambda-function.js';
import { DEPLOYMENT_TAG } from './names.js';
import { NetworkStack } from './network-stack.js';
import { StatefulStack } from './stateful-stack.js';
import { StatelessStack } from './stateless-stack.js';

export { DEPLOYMENT_TAG } from './names.js';

/** Where `npx tsx frontend/build.ts` writes the front desk. */
export const SITE_ASSET_DIR = join(PROJECT_ROOT, 'dist', 'frontend');

export interface CarrelAppOptions {
  readonly config: CarrelConfig;
  /** Built front desk to deploy. @default SITE_ASSET_DIR (deployed when it exists) */
  readonly siteAssetDir?: string;
  /** Folder of the Lambda entry points. @default lambdas/handlers/entry */
  readonly entryDir?: string;
  /** Run cdk-nag's AwsSolutions checks during synthesis. @default true */
  readonly nag?: boolean;
}

export interface CarrelStacks {
  /** The workspace network (with `computeKind` ec2 or fargate only). */
  readonly network?: NetworkStack;
  readonly stateful: StatefulStack;
  readonly stateless: StatelessStack;
}

export function addCarrelStacks(app: App, options: CarrelAppOptions): CarrelStacks {
  const { config } = options;
  const env = config.env?.account || config.env?.region ? { account: config.env.account, region: config.env.region } : undefined;
  const prefix = `carrel-${config.deploymentId}`;

  const computeKind = config.computeKind;
  const network =
    computeKind === 'none'
      ? undefined
      : new NetworkStack(app, `${prefix}-network`, {
          env,
          config: { ...config, computeKind },
          description: `carrel ${config.deploymentId}: workspace network (VPC, NAT, endpoints, flow logs, security groups)`,
          terminationProtection: true,
        });

  const stateful = new StatefulStack(app, `${prefix}-stateful`, {
    env,
    deploymentId: config.deploymentId,
    description: network
      ? `carrel ${config.deploymentId}: workspace table, signing key, homes and backups (retained)`
      : `carrel ${config.deploymentId}: workspace table and signing key (retained)`,
    terminationProtection: true,
    workspaces: network ? { network: network.network, homes: config.homes, backup: config.backup, enclave: config.enclave.enabled } : undefined,
  });
  const stateless = new StatelessStack(app, `${prefix}-stateless`, {
    env,
    config,
    table: stateful.table,
    signingKey: stateful.signingKey,
    siteAssetDir: options.siteAssetDir ?? SITE_ASSET_DIR,
    entryDir: options.entryDir,
    workspaces: network && stateful.homes ? { network: network.network, homes: stateful.homes } : undefined,
    description: network
      ? `carrel ${config.deploymentId}: front desk functions, API, site, schedules and workspace compute`
      : `carrel ${config.deploymentId}: front desk functions, API, site and schedules`,
  });

  Tags.of(app).add(DEPLOYMENT_TAG, config.deploymentId);
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { network, stateful, stateless };
}
