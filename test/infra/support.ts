/**
 * Builds the carrel CDK app the way `npx cdk synth` does (cdk.json's feature flags), but without
 * bundling the Lambdas (context `aws:cdk:bundling-stacks: []`), so Template tests take seconds.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { addCarrelStacks, type CarrelStacks } from '../../lib/app.js';
import { parseConfig, type CarrelConfigInput } from '../../lib/config.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A stand-in for dist/frontend, so the site deployment is part of the template whether or not the front desk is built. */
export const FIXTURE_SITE_DIR = fileURLToPath(new URL('./fixtures/site', import.meta.url));

export const CDK_CONTEXT: Record<string, unknown> = JSON.parse(readFileSync(`${ROOT}cdk.json`, 'utf8')).context;

export interface TestAppOptions {
  readonly config?: CarrelConfigInput;
  /** @default FIXTURE_SITE_DIR */
  readonly siteAssetDir?: string;
  /** Run cdk-nag during synthesis. @default false */
  readonly nag?: boolean;
  /** CDK's built-in CloudFormation validation (slow; the nag test runs it). @default false */
  readonly cfnValidation?: boolean;
}

export function buildTestApp(options: TestAppOptions = {}): { app: App } & CarrelStacks {
  const app = new App({
    context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] },
    builtinCloudFormationValidation: options.cfnValidation ?? false,
  });
  const stacks = addCarrelStacks(app, {
    config: parseConfig(options.config ?? {}),
    siteAssetDir: options.siteAssetDir ?? FIXTURE_SITE_DIR,
    nag: options.nag ?? false,
  });
  return { app, ...stacks };
}

/** The desk zone and domain of the AWS-workspaces test configurations. */
export const WORKSPACE_ZONE = { zoneId: 'Z0123456789ABCDEFGHIJ', zoneName: 'uni.example' };
export const WORKSPACE_DESK = 'desk.uni.example';

/** EC2 workspaces: an AMI, two allowed networks. */
export const EC2_CONFIG: CarrelConfigInput = {
  deploymentId: 'test',
  deskDomain: WORKSPACE_DESK,
  hostedZone: WORKSPACE_ZONE,
  computeKind: 'ec2',
  workspaceImageId: 'ami-0123456789abcdef0',
  allowedCidrs: ['10.1.0.0/16', '192.0.2.0/24'],
};

/** Fargate workspaces: public-registry images, no allowed network. */
export const FARGATE_CONFIG: CarrelConfigInput = {
  deploymentId: 'test',
  deskDomain: WORKSPACE_DESK,
  hostedZone: WORKSPACE_ZONE,
  computeKind: 'fargate',
  allowedCidrs: [],
  fargate: { toolImage: 'quay.io/jupyter/minimal-notebook:2025-01-06', gateImage: 'registry.example.org/carrel-gate:1.0.0' },
};

/** The IAM policy statements attached to a role (inline policies and its default policy), from a template. */
export type Statement = { Effect: string; Action: string | string[]; Resource: unknown };

export function actionsOf(statement: Statement): string[] {
  return Array.isArray(statement.Action) ? statement.Action : [statement.Action];
}

export function resourcesOf(statement: Statement): unknown[] {
  return Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
}
