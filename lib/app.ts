/**
 * Composition of the CDK app: the stateful and stateless stacks of one deployment, its tag, and
 * cdk-nag's AwsSolutions checks on everything. Used by bin/carrel.ts and by the infra tests.
 */
import { join } from 'node:path';
import { Tags, Validations, type App } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { CarrelConfig } from './config.js';
import { PROJECT_ROOT } from './lambda-function.js';
import { StatefulStack } from './stateful-stack.js';
import { StatelessStack } from './stateless-stack.js';

/** Tag on every resource of a deployment; reconciliation and the CLI find resources by it. */
export const DEPLOYMENT_TAG = 'carrel:deployment';

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
  readonly stateful: StatefulStack;
  readonly stateless: StatelessStack;
}

export function addCarrelStacks(app: App, options: CarrelAppOptions): CarrelStacks {
  const { config } = options;
  const env = config.env?.account || config.env?.region ? { account: config.env.account, region: config.env.region } : undefined;
  const prefix = `carrel-${config.deploymentId}`;

  const stateful = new StatefulStack(app, `${prefix}-stateful`, {
    env,
    deploymentId: config.deploymentId,
    description: `carrel ${config.deploymentId}: workspace table and signing key (retained)`,
    terminationProtection: true,
  });
  const stateless = new StatelessStack(app, `${prefix}-stateless`, {
    env,
    config,
    table: stateful.table,
    signingKey: stateful.signingKey,
    siteAssetDir: options.siteAssetDir ?? SITE_ASSET_DIR,
    entryDir: options.entryDir,
    description: `carrel ${config.deploymentId}: front desk functions, API, site and schedules`,
  });

  Tags.of(app).add(DEPLOYMENT_TAG, config.deploymentId);
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { stateful, stateless };
}
