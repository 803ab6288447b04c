/**
 * The AWS composition root: builds the adapters once per Lambda container from the validated
 * environment, and wraps a handler factory into a Lambda handler. Entry points (entry/*.ts) are one
 * line each on top of this. A bad setting fails the container's start with a message naming it.
 *
 * This module wires what every function uses (the DynamoDB store and catalog, the KMS signer, OIDC) and
 * nothing else. Each entry point passes a WorkspaceKit with only the workspace parts its function uses
 * (aws-parts/*.ts, one module per part): a bundle then holds only those SDK clients, so a status poll's
 * function carries no EC2, ECS, EFS, Route 53 or Lambda client (cold starts on the researcher's path).
 *
 * Workspace adapters are built on first use: a function builds only what it touches, and building one
 * creates no connection (SDK clients connect on their first request).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import {
  CarrelError,
  DEFAULT_POOL_POLICY,
  systemClock,
  TransientError,
  type ComputePort,
  type HomesPort,
  type HostnamesPort,
  type Log,
  type ProvisionerPort,
  type TaskIdentityPort,
  type WarmPool,
} from '../core/index.js';
import { dynamoDocumentClient } from '../adapters/aws/clients/dynamodb.js';
import { kmsClient } from '../adapters/aws/clients/kms.js';
import { DynamoAnalysisCatalog } from '../adapters/aws/dynamo-catalog.js';
import { DynamoSpareStore } from '../adapters/aws/dynamo-spare-store.js';
import { DynamoWorkspaceStore } from '../adapters/aws/dynamo-store.js';
import { KmsSigner } from '../adapters/aws/kms-signer.js';
import { deskSessionIdentity } from '../adapters/oidc-identity.js';
import { LocalKeySigner, TokenVerifier, type JwsSigner } from '../adapters/tokens.js';
import type { AgentTokenVerifier, AppDeps } from './app.js';
import { loadConfig, type DeskConfig, type WorkspacesConfig } from './config.js';
import type { ComputeEventSources } from './events.js';
import { powertoolsLog } from './powertools-log.js';
import {
  NotWiredCompute,
  NotWiredHomes,
  NotWiredHostnames,
  NotWiredProvisioner,
  UnconfiguredCompute,
  UnconfiguredHomes,
  UnconfiguredHostnames,
} from './unconfigured.js';

/** AppDeps plus what only the AWS wiring knows: how raw EC2/ECS events are mapped. */
export type AwsDeps = AppDeps & { readonly computeEventSources?: ComputeEventSources };

export interface AwsApp {
  readonly deps: AwsDeps;
  readonly logger: Logger;
}

/** What a workspace part is built from: the validated configuration and the function's log. */
export interface PartContext {
  readonly config: DeskConfig;
  readonly log: Log;
}

type Configured<K extends keyof WorkspacesConfig> = NonNullable<WorkspacesConfig[K]>;

/**
 * How a function builds the workspace parts it uses, each from its configured settings (aws-parts/*.ts:
 * awsCompute, efsHomes, route53Hostnames, lambdaProvisioner, awsComputeEventSources). A part the deployment
 * leaves unconfigured is the unconfigured stand-in whatever the kit says; a configured part missing from
 * the kit is a NotWired stand-in that fails when used (a wiring bug, not a deployment's choice).
 */
export interface WorkspaceKit {
  readonly compute?: (compute: Configured<'compute'>, context: PartContext) => ComputePort;
  readonly homes?: (homes: Configured<'homes'>, context: PartContext) => HomesPort;
  readonly hostnames?: (hostnames: Configured<'hostnames'>, context: PartContext) => HostnamesPort;
  /** The provisioner function's name (EC2 compute only). */
  readonly provisioner?: (functionName: string, context: PartContext) => ProvisionerPort;
  readonly computeEventSources?: (compute: Configured<'compute'>, context: PartContext) => ComputeEventSources;
  /** Proves which Fargate task asks for its settings (Fargate compute only; POST /api/agent/bootstrap). */
  readonly taskIdentity?: (compute: Configured<'compute'> & { readonly kind: 'fargate' }, context: PartContext) => TaskIdentityPort;
}

/** The workspace adapters of a deployment, each built on first call. */
export interface WorkspaceParts {
  readonly compute: () => ComputePort;
  readonly homes: () => HomesPort;
  readonly hostnames: () => HostnamesPort;
  /** EC2 only: Fargate tasks and the local runtime prepare themselves. */
  readonly provisioner: () => ProvisionerPort | undefined;
  /** Undefined without compute, and in functions that do not map raw events (only compute-events reads it). */
  readonly computeEventSources: () => ComputeEventSources | undefined;
  /** Fargate only, and only in the function that answers the bootstrap route. */
  readonly taskIdentity: () => TaskIdentityPort | undefined;
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
 * Compute, homes, hostnames, provisioner and event mapping for `config.workspaces`, built by `kit`: compute
 * when COMPUTE_KIND is set, homes when EFS_FILE_SYSTEM_ID is, hostnames when HOSTED_ZONE_ID is; the
 * unconfigured stand-ins otherwise (an open then fails with the reason).
 */
export function workspaceParts(config: DeskConfig, log: Log, kit: WorkspaceKit = {}): WorkspaceParts {
  const { compute, homes, hostnames } = config.workspaces;
  const context: PartContext = { config, log };
  return {
    compute: once((): ComputePort => {
      if (!compute) return new UnconfiguredCompute();
      return kit.compute ? kit.compute(compute, context) : new NotWiredCompute();
    }),
    homes: once((): HomesPort => {
      if (!homes) return new UnconfiguredHomes();
      return kit.homes ? kit.homes(homes, context) : new NotWiredHomes();
    }),
    hostnames: once((): HostnamesPort => {
      if (!hostnames) return new UnconfiguredHostnames(config.deskDomain);
      return kit.hostnames ? kit.hostnames(hostnames, context) : new NotWiredHostnames(config.deskDomain);
    }),
    provisioner: once((): ProvisionerPort | undefined => {
      if (compute?.kind !== 'ec2' || !compute.provisionerFunctionName) return undefined;
      return kit.provisioner ? kit.provisioner(compute.provisionerFunctionName, context) : new NotWiredProvisioner();
    }),
    computeEventSources: once((): ComputeEventSources | undefined => (compute && kit.computeEventSources ? kit.computeEventSources(compute, context) : undefined)),
    taskIdentity: once((): TaskIdentityPort | undefined => (compute?.kind === 'fargate' && kit.taskIdentity ? kit.taskIdentity(compute, context) : undefined)),
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

/**
 * The container's adapters, built on first use from `env` (process.env in Lambda), with the workspace
 * parts of `kit` (the entry point's: one entry point per container).
 */
export function awsApp(kit: WorkspaceKit = {}, env: Readonly<Record<string, string | undefined>> = process.env): AwsApp {
  app ??= buildAwsApp(loadConfig(env), kit);
  return app;
}

/** The adapters for `config` (awsApp builds them once per container; tests build their own). */
export function buildAwsApp(config: DeskConfig, kit: WorkspaceKit = {}): AwsApp {
  const logger = new Logger({ serviceName: config.serviceName ?? 'carrel-desk', ...(config.logLevel ? { logLevel: config.logLevel as 'INFO' } : {}) });
  const log = powertoolsLog(logger);
  const doc = dynamoDocumentClient();
  const signer: JwsSigner = config.signing.kind === 'kms' ? new KmsSigner(kmsClient(), config.signing.keyId) : new LocalKeySigner(config.signing.pem, 'desk');
  const parts = workspaceParts(config, log, kit);
  const deps: AwsDeps = withWorkspaceParts(parts, {
    store: new DynamoWorkspaceStore(doc, config.tableName),
    catalog: new DynamoAnalysisCatalog(doc, config.tableName),
    clock: systemClock,
    policy: config.policy,
    log,
    deploymentId: config.deploymentId,
    pool: warmPoolFor(config, doc),
    identity: deskSessionIdentity(signer, { cookieName: config.sessionCookie }),
    signer,
    verifier: lazyVerifier(signer),
    config,
  });
  return { deps, logger };
}

/** EC2 with WARM_POOL set: the spare records (on the desk's table) and the pool's policy. */
export function warmPoolFor(config: DeskConfig, doc: DynamoDBDocumentClient): WarmPool | undefined {
  const compute = config.workspaces.compute;
  if (compute?.kind !== 'ec2' || !compute.warmPool) return undefined;
  return {
    store: new DynamoSpareStore(doc, config.tableName),
    policy: { ...DEFAULT_POOL_POLICY, targets: compute.warmPool.targets, forResume: compute.warmPool.forResume },
  };
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
 * setting fails the container at once, naming it); the Lambda context goes into every log line. `kit`: the
 * workspace parts this function uses (none for a function that only reads and writes records).
 */
export function awsHandler<E, R>(
  make: (deps: AwsDeps) => (event: E, context?: Context) => Promise<R>,
  kit: WorkspaceKit = {},
): (event: E, context?: Context) => Promise<R> {
  const { deps, logger } = awsApp(kit);
  const handler = make(deps);
  return (event, context) => {
    if (context) logger.addContext(context);
    return handler(event, context);
  };
}
