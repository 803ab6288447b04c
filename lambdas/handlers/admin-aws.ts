/**
 * The admin CLI's AWS composition: the deployment's desk settings from its stop function's environment,
 * then the same wiring the Lambda functions use (buildAwsApp with every workspace part), on the engineer's
 * credentials. Built on first use, so `help` and bad command lines make no AWS call.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DeploymentResources, DeploymentRoles } from '../adapters/aws/deployment-resources.js';
import { ecsClient } from '../adapters/aws/clients/ecs.js';
import { iamClient } from '../adapters/aws/clients/iam.js';
import { enclaveRunTaskFamily, RunResourcesCleanUp } from '../adapters/aws/run-resources.js';
import { silentLog } from '../core/ports.js';
import type { RunCredentials } from '../core/runs/deps.js';
import { dynamoDocumentClient } from '../adapters/aws/clients/dynamodb.js';
import { lambdaClient } from '../adapters/aws/clients/lambda.js';
import { taggingClient } from '../adapters/aws/clients/tagging.js';
import { DynamoRunStore } from '../adapters/aws/dynamo-run-store.js';
import type { WorkspaceDeps } from '../core/index.js';
import type { AdminContext } from './admin.js';
import { allWorkspaceParts, type AwsClients } from './aws-parts/all.js';
import { buildAwsApp } from './aws-wiring.js';
import { loadConfig, type DeskConfig } from './config.js';

export interface AdminAwsOptions {
  readonly deploymentId: string;
  /** Tests inject these; unset: the clients of clients/<service>.ts (region and credentials from the environment). */
  readonly resources?: DeploymentResources;
  /** The roles made at run time (IAM: not listed by the Tagging API). */
  readonly roles?: Pick<DeploymentRoles, 'list'>;
  /** Removes a run's own resources (the sweep). */
  readonly runCleanUp?: Pick<RunCredentials, 'cleanUp'>;
  readonly doc?: DynamoDBDocumentClient;
  readonly clients?: AwsClients;
  /** Builds the desk's dependencies from its settings (default: buildAwsApp with every workspace part). */
  readonly buildDesk?: (config: DeskConfig) => WorkspaceDeps;
}

export function awsAdminContext(options: AdminAwsOptions): AdminContext {
  const resources = options.resources ?? new DeploymentResources(taggingClient(), lambdaClient(), options.deploymentId);
  const roles = options.roles ?? new DeploymentRoles(iamClient(), options.deploymentId);
  const runCleanUp = options.runCleanUp ?? new RunResourcesCleanUp(iamClient(), ecsClient(), { deploymentId: options.deploymentId, taskFamily: enclaveRunTaskFamily(options.deploymentId), log: silentLog });
  const runStore = async () => new DynamoRunStore(options.doc ?? dynamoDocumentClient(), (await deskConfig()).tableName);
  let config: Promise<DeskConfig> | undefined;
  const deskConfig = () => (config ??= resources.deskEnvironment('stop').then((env) => loadConfig(env)));
  let desk: Promise<WorkspaceDeps> | undefined;
  return {
    desk: () => (desk ??= deskConfig().then((c) => (options.buildDesk ?? ((cfg) => buildAwsApp(cfg, allWorkspaceParts(options.clients)).deps))(c))),
    runs: async (analysisId, limit) => (await runStore()).listForAnalysis(analysisId, limit),
    run: async (key) => (await runStore()).get(key),
    resources: async () => [...(await resources.list()), ...(await roles.list())],
    cleanUpRun: (key) => runCleanUp.cleanUp(key),
  };
}
