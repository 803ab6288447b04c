/**
 * The desk's Lambda functions for the AWS model, composed the way lambdas/handlers/aws-wiring.ts composes
 * them: the configuration from loadConfig (a deployment's environment), the workspace adapters from the
 * real `workspaceParts` over the model's mocked SDK clients, the DynamoDB store and catalog over dynalite,
 * the KMS signer over the mocked KMS client. Only the identity provider is local (a JWKS object instead of
 * a JWKS URL: same verification, no fetch; it is no AWS call either way).
 *
 * Each `container()` is one Lambda execution environment: fresh adapters with empty caches (a cold start),
 * or the same object reused (a warm one). Caches that matter here live in adapters: EFS homes known,
 * Fargate task definitions, the KMS public key, gate cookies, the provisioner's secrets.
 */
import { readFile } from 'node:fs/promises';
import type { Log, User } from '../../lambdas/core/index.js';
import { DynamoAnalysisCatalog } from '../../lambdas/adapters/aws/dynamo-catalog.js';
import { DynamoWorkspaceStore } from '../../lambdas/adapters/aws/dynamo-store.js';
import { ConsoleHostKeys } from '../../lambdas/adapters/aws/console-host-keys.js';
import { KmsSigner } from '../../lambdas/adapters/aws/kms-signer.js';
import { SecretsManagerProvisionSecrets } from '../../lambdas/adapters/aws/provisioner-secrets.js';
import { OidcIdentity } from '../../lambdas/adapters/oidc-identity.js';
import { lazyVerifier, warmPoolFor, withWorkspaceParts, workspaceParts, type AwsDeps, type WorkspaceKit } from '../../lambdas/handlers/aws-wiring.js';
import { allWorkspaceParts } from '../../lambdas/handlers/aws-parts/all.js';
import { loadConfig, type DeskConfig } from '../../lambdas/handlers/config.js';
import { loadProvisionerConfig, makeProvisionHandler, type ProvisionAssets, type ProvisionOutcome } from '../../lambdas/handlers/provision.js';
import type { LocalDynamo } from '../../local/dynamodb.js';
import { AUDIENCE, ISSUER, TestIdp } from '../handlers/support.js';
import { ACCOUNT, ModelRemote, REGION, type ModelWorld } from './aws-world.js';

export const DESK_DOMAIN = 'desk.example.org';
export const HOSTED_ZONE_ID = 'Z0123456789ABCDEFGHIJ';
export const DEPLOYMENT_ID = 'prod';
export const FILE_SYSTEM_ID = 'fs-0123456789abcdef0';
export const SSH_KEY_SECRET = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:carrel-prod/provisioner-ssh-key-AbCdEf`;
export const CERTIFICATE_SECRET = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:carrel-prod/gate-certificate-AbCdEf`;
export const CLUSTER_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/carrel-prod`;
export const BASE_TASK_DEFINITION_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/carrel-prod-workspace:7`;

export type ComputeKind = 'ec2' | 'fargate';

/** A deployment's Lambda environment, as the stateless stack sets it (docs/contracts.md). */
export function deskEnvironment(kind: ComputeKind, keyArn: string): Record<string, string> {
  const common = {
    TABLE_NAME: 'carrel',
    DEPLOYMENT_ID,
    DESK_DOMAIN,
    SIGNING_KEY_ID: keyArn,
    OIDC_ISSUER: ISSUER,
    OIDC_AUDIENCE: AUDIENCE,
    OIDC_JWKS_URL: 'https://idp.example.org/realms/carrel/protocol/openid-connect/certs',
    COMPUTE_KIND: kind,
    WORKSPACE_SIZES: JSON.stringify({ small: { instanceTypes: ['t4g.large', 'm7g.large'], cpu: 1024, memoryMiB: 4096 } }),
    WORKSPACE_SUBNET_IDS: 'subnet-0a1b2c3d4e5f60718,subnet-0b1c2d3e4f5a60718',
    WORKSPACE_SECURITY_GROUP_ID: 'sg-0a1b2c3d4e5f60718',
    EFS_FILE_SYSTEM_ID: FILE_SYSTEM_ID,
    HOSTED_ZONE_ID,
    GATE_CERTIFICATE_SECRET_ARN: CERTIFICATE_SECRET,
  };
  return kind === 'ec2'
    ? { ...common, LAUNCH_TEMPLATE_ID: 'lt-0a1b2c3d4e5f60718', PROVISIONER_FUNCTION_NAME: 'carrel-prod-provision', PROVISIONER_SSH_KEY_SECRET_ARN: SSH_KEY_SECRET }
    : { ...common, ECS_CLUSTER_ARN: CLUSTER_ARN, TASK_DEFINITION_ARN: BASE_TASK_DEFINITION_ARN };
}

/** The provisioner function's own environment (lambdas/handlers/provision.ts loadProvisionerConfig). */
export function provisionerEnvironment(): Record<string, string> {
  return { PROVISIONER_SSH_KEY_SECRET_ARN: SSH_KEY_SECRET, GATE_CERTIFICATE_SECRET_ARN: CERTIFICATE_SECRET, EFS_FILE_SYSTEM_ID: FILE_SYSTEM_ID };
}

/** A log that keeps warnings and errors: the model reports them (a step the real code refused). */
export class KeptLog implements Log {
  readonly problems: string[] = [];
  info(): void {}
  warn(message: string, data?: Record<string, unknown>): void {
    this.problems.push(`warn: ${message}${data ? ` ${JSON.stringify(data).slice(0, 300)}` : ''}`);
  }
  error(message: string, data?: Record<string, unknown>): void {
    this.problems.push(`error: ${message}${data ? ` ${JSON.stringify(data).slice(0, 300)}` : ''}`);
  }
}

export class Deployment {
  readonly config: DeskConfig;
  private readonly kit: WorkspaceKit;

  constructor(
    readonly kind: ComputeKind,
    readonly world: ModelWorld,
    readonly dynamo: Pick<LocalDynamo, 'doc'> & { readonly tableName: string },
    readonly idp: TestIdp,
    readonly log: KeptLog,
    /** Settings on top of the deployment's environment (e.g. WARM_POOL). */
    readonly extraEnvironment: Readonly<Record<string, string>> = {},
  ) {
    this.config = loadConfig({ ...deskEnvironment(kind, world.keyArn), ...extraEnvironment });
    this.kit = allWorkspaceParts({
      ec2: () => world.ec2,
      ecs: () => world.ecs,
      efs: () => world.efs,
      route53: () => world.route53,
      lambda: () => world.lambda,
      iam: () => world.iam,
    });
  }

  /** One Lambda execution environment's adapters (what `buildAwsApp` builds once per container). */
  container(): AwsDeps {
    const { config, world } = this;
    const log: Log = this.log;
    const parts = workspaceParts(config, log, this.kit);
    if (config.signing.kind !== 'kms') throw new Error('the AWS model signs with KMS');
    const signer = new KmsSigner(world.kms, config.signing.keyId);
    return withWorkspaceParts(parts, {
      store: new DynamoWorkspaceStore(this.dynamo.doc, this.dynamo.tableName),
      catalog: new DynamoAnalysisCatalog(this.dynamo.doc, this.dynamo.tableName),
      clock: world.clock,
      policy: config.policy,
      log,
      deploymentId: config.deploymentId,
      pool: warmPoolFor(config, this.dynamo.doc),
      identity: new OidcIdentity({
        issuer: config.oidc.issuer,
        audience: config.oidc.audience,
        jwks: this.idp.jwks,
        rolesClaim: config.oidc.rolesClaim,
        cookieName: config.sessionCookie,
        clock: world.clock,
      }),
      signer,
      verifier: lazyVerifier(signer),
      config,
    });
  }

  /** The provisioner function (lambdas/handlers/entry/provision.ts), one container. */
  provisioner(assets: ProvisionAssets): (event: unknown) => Promise<ProvisionOutcome> {
    const { world } = this;
    const deps = this.container();
    const settings = loadProvisionerConfig(provisionerEnvironment()).settings;
    const handler = makeProvisionHandler({
      ...deps,
      hostKeys: new ConsoleHostKeys(world.ec2),
      remote: new ModelRemote(world),
      secrets: new SecretsManagerProvisionSecrets(world.secrets, SSH_KEY_SECRET, CERTIFICATE_SECRET, undefined, world.clock.now),
      assets: () => Promise.resolve(assets),
      settings,
      sleep: (ms) => {
        world.timeline.wait(
          'provisioner waits to read the console again (host keys not printed yet)',
          ms / 1000,
          `lambdas/handlers/provision.ts HOST_KEY_POLL_SECONDS (default ${settings.hostKeyPollMs / 1000} s)`,
        );
        return Promise.resolve();
      },
    });
    return (event) => handler(event, { getRemainingTimeInMillis: () => 600_000 });
  }
}

/** What the provisioner uploads: the real script; the gate bundle's size stands in for the bundle. */
export async function provisionAssets(): Promise<ProvisionAssets> {
  const script = await readFile(new URL('../../assets/provision/provision.sh', import.meta.url));
  return { script, gateBundle: new Uint8Array(1_000_000), template: [{ path: 'README.md', content: '# {{ANALYSIS_ID}}\n' }] };
}

/** Seed what a deployment has before anyone opens a workspace: the analyses, users and secrets. */
export async function seedDeployment(deployment: Deployment, analyses: readonly { analysisId: string; members: readonly string[] }[]): Promise<void> {
  const catalog = new DynamoAnalysisCatalog(deployment.dynamo.doc, deployment.dynamo.tableName);
  for (const { analysisId, members } of analyses) {
    await catalog.putAnalysis({ analysisId, title: `Analysis ${analysisId}`, members: [...members], tool: 'jupyter', size: 'small' });
    for (const userId of members) await catalog.putUser({ userId, name: userId, roles: ['researcher'] } satisfies User);
  }
  const { world } = deployment;
  world.secretValues.set(SSH_KEY_SECRET, JSON.stringify({ privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nbW9kZWw=\n-----END OPENSSH PRIVATE KEY-----' }));
  world.secretValues.set(
    CERTIFICATE_SECRET,
    JSON.stringify({
      certificate: '-----BEGIN CERTIFICATE-----\nbW9kZWw=\n-----END CERTIFICATE-----\n',
      privateKey: '-----BEGIN PRIVATE KEY-----\nbW9kZWw=\n-----END PRIVATE KEY-----\n',
      expiresAt: '2031-01-01T00:00:00.000Z',
    }),
  );
}
