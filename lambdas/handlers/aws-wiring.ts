/**
 * The AWS composition root: builds the adapters once per Lambda container from the validated
 * environment, and wraps a handler factory into a Lambda handler. Entry points (entry/*.ts) are one
 * line each on top of this. A bad setting fails the container's start with a message naming it.
 *
 * Workspace adapters (compute, homes, hostnames, provisioner, the compute-event mapping) are built on
 * first use: a function builds only what it touches (a status poll never creates an EC2 client), and
 * building one creates no connection (SDK clients connect on their first request).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { CarrelError, systemClock, TransientError, type ComputePort, type HomesPort, type HostnamesPort, type Log, type ProvisionerPort } from '../core/index.js';
import { dynamoDocumentClient, ec2Client, ecsClient, efsClient, iamClient, kmsClient, lambdaClient, route53Client } from '../adapters/aws/clients.js';
import { ec2InstanceLookup, ec2PublicIpLookup } from '../adapters/aws/compute-event-mapping.js';
import { DynamoAnalysisCatalog } from '../adapters/aws/dynamo-catalog.js';
import { DynamoWorkspaceStore } from '../adapters/aws/dynamo-store.js';
import { Ec2Compute } from '../adapters/aws/ec2-compute.js';
import { FargateCompute } from '../adapters/aws/ecs-compute.js';
import { EfsHomes } from '../adapters/aws/efs-homes.js';
import { HomeTaskRoles, locationOfArn } from '../adapters/aws/iam-home-roles.js';
import { KmsSigner } from '../adapters/aws/kms-signer.js';
import { LambdaProvisioner } from '../adapters/aws/lambda-provisioner.js';
import { Route53Hostnames } from '../adapters/aws/route53-hostnames.js';
import { OidcIdentity } from '../adapters/oidc-identity.js';
import { LocalKeySigner, TokenVerifier, type JwsSigner } from '../adapters/tokens.js';
import type { AgentTokenVerifier, AppDeps } from './app.js';
import { ConfigError, loadConfig, type DeskConfig } from './config.js';
import type { ComputeEventSources } from './events.js';
import { powertoolsLog } from './powertools-log.js';
import { UnconfiguredCompute, UnconfiguredHomes, UnconfiguredHostnames } from './unconfigured.js';

/** AppDeps plus what only the AWS wiring knows: how raw EC2/ECS events are mapped. */
export type AwsDeps = AppDeps & { readonly computeEventSources?: ComputeEventSources };

export interface AwsApp {
  readonly deps: AwsDeps;
  readonly logger: Logger;
}

/** The SDK client factories the workspace adapters use (clients.ts; a test may pass its own). */
export interface AwsClients {
  readonly ec2: typeof ec2Client;
  readonly ecs: typeof ecsClient;
  readonly efs: typeof efsClient;
  readonly route53: typeof route53Client;
  readonly lambda: typeof lambdaClient;
  readonly iam: typeof iamClient;
}

const DEFAULT_CLIENTS: AwsClients = { ec2: ec2Client, ecs: ecsClient, efs: efsClient, route53: route53Client, lambda: lambdaClient, iam: iamClient };

/** The workspace adapters of a deployment, each built on first call. */
export interface WorkspaceParts {
  readonly compute: () => ComputePort;
  readonly homes: () => HomesPort;
  readonly hostnames: () => HostnamesPort;
  /** EC2 only: Fargate tasks and the local runtime prepare themselves. */
  readonly provisioner: () => ProvisionerPort | undefined;
  readonly computeEventSources: () => ComputeEventSources | undefined;
}

function once<T>(make: () => T): () => T {
  let made = false;
  let value: T;
  return () => {
    if (!made) {
      value = make();
      made = true;
    }
    return value;
  };
}

/**
 * Compute, homes, hostnames, provisioner and event mapping for `config.workspaces`: EC2 or Fargate compute
 * when COMPUTE_KIND is set, EFS homes when EFS_FILE_SYSTEM_ID is, Route 53 hostnames when HOSTED_ZONE_ID
 * is; the unconfigured stand-ins otherwise (an open then fails with the reason).
 */
export function workspaceParts(config: DeskConfig, log: Log, clients: AwsClients = DEFAULT_CLIENTS): WorkspaceParts {
  const { compute, homes, hostnames, address, gatePort } = config.workspaces;
  const { deploymentId } = config;
  return {
    compute: once((): ComputePort => {
      if (!compute) return new UnconfiguredCompute();
      const network = { subnetIds: compute.subnetIds, securityGroupIds: compute.securityGroupIds, sizes: compute.sizes };
      if (compute.kind === 'ec2') {
        return new Ec2Compute(clients.ec2(), { deploymentId, launchTemplateId: compute.launchTemplateId, ...network, hibernate: compute.hibernate, log });
      }
      return new FargateCompute(clients.ecs(), {
        deploymentId,
        clusterArn: compute.clusterArn,
        taskDefinitionArn: compute.taskDefinitionArn,
        ...network,
        assignPublicIp: address === 'public',
        fileSystemId: compute.fileSystemId,
        homeRoles: new HomeTaskRoles(clients.iam(), { deploymentId, location: locationOfArn(compute.clusterArn), fileSystemId: compute.fileSystemId, log }),
        log,
      });
    }),
    homes: once((): HomesPort =>
      homes ? new EfsHomes(clients.efs(), { deploymentId, fileSystemId: homes.fileSystemId, uid: homes.uid, gid: homes.gid, log }) : new UnconfiguredHomes(),
    ),
    hostnames: once((): HostnamesPort =>
      hostnames
        ? new Route53Hostnames(clients.route53(), { hostedZoneId: hostnames.hostedZoneId, deskDomain: config.deskDomain, ttlSeconds: hostnames.ttlSeconds })
        : new UnconfiguredHostnames(config.deskDomain),
    ),
    provisioner: once(() =>
      compute?.kind === 'ec2' && compute.provisionerFunctionName ? new LambdaProvisioner(clients.lambda(), compute.provisionerFunctionName) : undefined,
    ),
    computeEventSources: once((): ComputeEventSources | undefined => {
      if (compute?.kind === 'ec2') return { ec2: { lookup: ec2InstanceLookup(() => clients.ec2(), { deploymentId, address, gatePort }) } };
      if (compute?.kind === 'fargate') {
        return { ecs: { deploymentId, gatePort, address, ...(address === 'public' ? { publicIp: ec2PublicIpLookup(() => clients.ec2()) } : {}) } };
      }
      return undefined;
    }),
  };
}

type LazyParts = { readonly [K in keyof WorkspaceParts]: ReturnType<WorkspaceParts[K]> };

/**
 * `deps` with the workspace adapters of `parts` as properties built on first access (a getter each:
 * spreading would build them all, and a status poll must not create an EC2 client).
 */
export function withWorkspaceParts<T extends object>(parts: WorkspaceParts, deps: T): T & LazyParts {
  const lazy = Object.fromEntries(
    (Object.keys(parts) as (keyof WorkspaceParts)[]).map((name) => [name, { get: () => parts[name](), enumerable: true }]),
  );
  return Object.defineProperties(deps, lazy) as T & LazyParts;
}

let app: AwsApp | undefined;

/** The container's adapters, built on first use from `env` (process.env in Lambda). */
export function awsApp(env: Readonly<Record<string, string | undefined>> = process.env): AwsApp {
  app ??= buildAwsApp(loadConfig(env));
  return app;
}

/** The adapters for `config` (awsApp builds them once per container; tests build their own). */
export function buildAwsApp(config: DeskConfig, clients: AwsClients = DEFAULT_CLIENTS): AwsApp {
  if (!config.oidc.jwksUrl) throw new ConfigError(["OIDC_JWKS_URL is required on AWS (the identity provider's JWKS endpoint)"]);
  const logger = new Logger({ serviceName: config.serviceName ?? 'carrel-desk', ...(config.logLevel ? { logLevel: config.logLevel as 'INFO' } : {}) });
  const log = powertoolsLog(logger);
  const doc = dynamoDocumentClient();
  const signer: JwsSigner = config.signing.kind === 'kms' ? new KmsSigner(kmsClient(), config.signing.keyId) : new LocalKeySigner(config.signing.pem, 'desk');
  const parts = workspaceParts(config, log, clients);
  const deps: AwsDeps = withWorkspaceParts(parts, {
    store: new DynamoWorkspaceStore(doc, config.tableName),
    catalog: new DynamoAnalysisCatalog(doc, config.tableName),
    clock: systemClock,
    policy: config.policy,
    log,
    deploymentId: config.deploymentId,
    identity: new OidcIdentity({
      issuer: config.oidc.issuer,
      audience: config.oidc.audience,
      jwksUrl: config.oidc.jwksUrl,
      rolesClaim: config.oidc.rolesClaim,
      cookieName: config.sessionCookie,
    }),
    signer,
    verifier: lazyVerifier(signer),
    config,
  });
  return { deps, logger };
}

/**
 * Reads the public key only when an agent token first needs checking (one KMS GetPublicKey per
 * container, and none at all in the functions that never verify).
 */
export function lazyVerifier(signer: JwsSigner): AgentTokenVerifier {
  let verifier: Promise<TokenVerifier> | undefined;
  return {
    async verifyAgentToken(token, now) {
      verifier ??= signer
        .publicKeyPem()
        .then((pem) => TokenVerifier.fromPem(pem))
        .catch((error: unknown) => {
          verifier = undefined;
          throw error instanceof CarrelError ? error : new TransientError('The desk signing key could not be read', { cause: error });
        });
      return (await verifier).verifyAgentToken(token, now);
    },
  };
}

/**
 * A Lambda handler from a handler factory. The adapters are built when the module loads (so a bad
 * setting fails the container at once, naming it); the Lambda context goes into every log line.
 */
export function awsHandler<E, R>(make: (deps: AwsDeps) => (event: E, context?: Context) => Promise<R>): (event: E, context?: Context) => Promise<R> {
  const { deps, logger } = awsApp();
  const handler = make(deps);
  return (event, context) => {
    if (context) logger.addContext(context);
    return handler(event, context);
  };
}
