/**
 * The AWS composition root: builds the adapters once per Lambda container from the validated
 * environment, and wraps a handler factory into a Lambda handler. Entry points (entry/*.ts) are one
 * line each on top of this. A bad setting fails the container's start with a message naming it.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { CarrelError, systemClock, TransientError } from '../core/index.js';
import { dynamoDocumentClient, kmsClient } from '../adapters/aws/clients.js';
import { DynamoAnalysisCatalog } from '../adapters/aws/dynamo-catalog.js';
import { DynamoWorkspaceStore } from '../adapters/aws/dynamo-store.js';
import { KmsSigner } from '../adapters/aws/kms-signer.js';
import { OidcIdentity } from '../adapters/oidc-identity.js';
import { LocalKeySigner, TokenVerifier, type JwsSigner } from '../adapters/tokens.js';
import type { AgentTokenVerifier, AppDeps } from './app.js';
import { ConfigError, loadConfig, type DeskConfig } from './config.js';
import { powertoolsLog } from './powertools-log.js';
import { UnconfiguredCompute, UnconfiguredHomes, UnconfiguredHostnames } from './unconfigured.js';

export interface AwsApp {
  readonly deps: AppDeps;
  readonly logger: Logger;
}

let app: AwsApp | undefined;

/** The container's adapters, built on first use from `env` (process.env in Lambda). */
export function awsApp(env: Readonly<Record<string, string | undefined>> = process.env): AwsApp {
  app ??= buildAwsApp(loadConfig(env));
  return app;
}

function buildAwsApp(config: DeskConfig): AwsApp {
  if (!config.oidc.jwksUrl) throw new ConfigError(["OIDC_JWKS_URL is required on AWS (the identity provider's JWKS endpoint)"]);
  const logger = new Logger({ serviceName: config.serviceName ?? 'carrel-desk', ...(config.logLevel ? { logLevel: config.logLevel as 'INFO' } : {}) });
  const doc = dynamoDocumentClient();
  const signer: JwsSigner = config.signing.kind === 'kms' ? new KmsSigner(kmsClient(), config.signing.keyId) : new LocalKeySigner(config.signing.pem, 'desk');
  const deps: AppDeps = {
    store: new DynamoWorkspaceStore(doc, config.tableName),
    catalog: new DynamoAnalysisCatalog(doc, config.tableName),
    // EC2/Fargate compute, EFS homes and Route 53 hostnames arrive with issue 4.
    compute: new UnconfiguredCompute(),
    homes: new UnconfiguredHomes(),
    hostnames: new UnconfiguredHostnames(config.deskDomain),
    clock: systemClock,
    policy: config.policy,
    log: powertoolsLog(logger),
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
  };
  return { deps, logger };
}

/**
 * Reads the public key only when an agent token first needs checking (one KMS GetPublicKey per
 * container, and none at all in the functions that never verify).
 */
function lazyVerifier(signer: JwsSigner): AgentTokenVerifier {
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
export function awsHandler<E, R>(make: (deps: AppDeps) => (event: E, context?: Context) => Promise<R>): (event: E, context?: Context) => Promise<R> {
  const { deps, logger } = awsApp();
  const handler = make(deps);
  return (event, context) => {
    if (context) logger.addContext(context);
    return handler(event, context);
  };
}
