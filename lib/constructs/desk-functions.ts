/**
 * The front-desk Lambdas (docs/contracts.md), each with exactly the table, key and (with AWS
 * workspaces) workspace actions its use case needs. The table below is the least-privilege contract: change
 * it together with the handler.
 */
import { Duration, Tags, Validations } from 'aws-cdk-lib';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { FUNCTION_TAG } from '../../lambdas/adapters/aws/deployment-resources.js';
import { TABLE_SCHEMA } from '../../lambdas/adapters/aws/table-schema.js';
import type { CarrelConfig } from '../config.js';
import { CarrelFunction } from '../lambda-function.js';
import type { WorkspaceCapability, Workspaces } from './workspaces.js';

export const ENTRY_NAMES = ['me', 'open', 'status', 'heartbeat', 'stop', 'agent-activity', 'agent-bootstrap', 'housekeeping', 'compute-events', 'login', 'callback', 'logout'] as const;
export type EntryName = (typeof ENTRY_NAMES)[number];

type TableAction = 'dynamodb:GetItem' | 'dynamodb:PutItem' | 'dynamodb:UpdateItem' | 'dynamodb:Query';
type IndexName = typeof TABLE_SCHEMA.dueIndex.name | typeof TABLE_SCHEMA.instanceIndex.name;
type KeyAction = 'kms:Sign' | 'kms:GetPublicKey';

export interface FunctionSpec {
  readonly description: string;
  /** Actions on the table itself (GetItem/PutItem/UpdateItem, and Query on the base table). */
  readonly tableActions: readonly TableAction[];
  /** Indexes the function queries (Query on `<table>/index/<name>` only). */
  readonly indexes?: readonly IndexName[];
  /** Actions on the signing key. */
  readonly keyActions?: readonly KeyAction[];
  /**
   * With AWS workspaces: what the function does with them (lib/constructs/workspaces.ts), and it gets the
   * AWS-workspaces environment of docs/contracts.md. Functions without it see neither.
   */
  readonly workspace?: readonly WorkspaceCapability[];
  /** More capabilities, only when the deployment keeps a warm pool of spare instances (ec2.warmPool). */
  readonly warmPool?: readonly WorkspaceCapability[];
  /** Reads the OpenID Connect client secret (`oidc.clientSecretArn`, when configured). */
  readonly clientSecret?: boolean;
  readonly timeout?: Duration;
  readonly memorySize?: number;
  readonly retryAttempts?: number;
  readonly maxEventAge?: Duration;
  /**
   * Keep the asynchronous events the function still fails after its retries (and those EventBridge could not
   * deliver) in an SQS dead-letter queue: encrypted, TLS only, kept 14 days (`deadLetterQueues[name]`).
   */
  readonly deadLetters?: boolean;
}

const { dueIndex, instanceIndex } = TABLE_SCHEMA;

/** What each entry point may do. A status poll is one read, a heartbeat one write (issue 3). */
export const FUNCTION_SPECS: Readonly<Record<EntryName, FunctionSpec>> = {
  me: {
    description: 'GET /api/me: the signed-in user and the analyses they may open',
    // The analysis catalog: the user's item (GetItem) and their memberships (one Query on the base table).
    tableActions: ['dynamodb:GetItem', 'dynamodb:Query'],
    keyActions: ['kms:GetPublicKey'], // verifies the desk session (once per container)
  },
  open: {
    description: 'POST /api/workspaces/{analysisId}/open: create the workspace record once, launch compute',
    tableActions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
    // Sets the gate cookie when ready and signs the agent token of the gate it launches. (The AWS compute
    // adapters that hand the gate its public key add kms:GetPublicKey here.)
    keyActions: ['kms:Sign', 'kms:GetPublicKey'],
    // Launch (or resume) compute and find-or-create the home; the hostname and provisioning follow from events.
    workspace: ['launch', 'start', 'describe', 'homes'],
    // Take a spare (adopt), hand it to the provisioner, end the stopped instance it replaces.
    warmPool: ['adopt', 'provision', 'terminate'],
    timeout: Duration.seconds(25),
  },
  status: {
    description: 'GET /api/workspaces/{analysisId}: the workspace view (one read)',
    tableActions: ['dynamodb:GetItem'],
    keyActions: ['kms:Sign', 'kms:GetPublicKey'], // verifies the session; refreshes the gate cookie of a ready workspace
  },
  heartbeat: {
    description: 'POST /api/workspaces/{analysisId}/heartbeat: record activity (one write)',
    tableActions: ['dynamodb:UpdateItem'],
    keyActions: ['kms:Sign', 'kms:GetPublicKey'], // verifies the session; refreshes the gate cookie
  },
  stop: {
    description: 'POST /api/workspaces/{analysisId}/stop: stop the workspace',
    tableActions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
    keyActions: ['kms:GetPublicKey'], // verifies the session
    // Stop (keep) the instance or task and remove its hostname.
    workspace: ['stop', 'dns'],
  },
  'agent-activity': {
    description: 'POST /api/agent/activity: a gate reports traffic/busy for its own workspace (one write)',
    tableActions: ['dynamodb:UpdateItem'],
    keyActions: ['kms:GetPublicKey'], // verifies the agent token with the public key only
  },
  'agent-bootstrap': {
    description: 'POST /api/agent/bootstrap: a Fargate workspace task proves which task it is (signed sts:GetCallerIdentity) and gets its own settings',
    // The workspace whose instance is the task (byInstance index, then a consistent GetItem).
    tableActions: ['dynamodb:GetItem'],
    indexes: [instanceIndex.name],
    // Signs the agent token it hands the gate, and hands it the public key.
    keyActions: ['kms:Sign', 'kms:GetPublicKey'],
    // No workspace actions, but the workspace environment (the cluster names the tasks). STS needs no grant.
    workspace: [],
  },
  housekeeping: {
    description: 'Every minute: stop idle workspaces, fail overdue states, terminate long-stopped ones, reconcile',
    tableActions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
    indexes: [dueIndex.name, instanceIndex.name],
    // Idle stops, terminations of long-stopped workspaces, and reconciliation by tag (instances or tasks,
    // ws-* records; homes are kept).
    workspace: ['stop', 'terminate', 'describe', 'dns'],
    // Pool upkeep launches spares (and retires them with terminate and dns, which it has).
    warmPool: ['launch'],
    timeout: Duration.seconds(55),
    memorySize: 1024,
    // A failed pass is not retried: the next one starts within a minute.
    retryAttempts: 0,
    maxEventAge: Duration.minutes(2),
  },
  'compute-events': {
    description: 'EC2/ECS state changes: advance the workspace that owns the instance',
    tableActions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
    indexes: [instanceIndex.name],
    // An instance's address on `running`, its hostname, then the provisioner (EC2).
    workspace: ['describe', 'dns', 'provision'],
    // A spare whose instance stopped or failed is retired.
    warmPool: ['terminate'],
    timeout: Duration.seconds(30),
    // A state change lost for good would leave a workspace waiting for its deadline: keep it to look at.
    deadLetters: true,
  },
  login: {
    description: 'GET /auth/login: start the OpenID Connect sign-in (signed login state, redirect to the identity provider)',
    tableActions: [],
    keyActions: ['kms:Sign'], // signs the login-state cookie
  },
  callback: {
    description: 'GET /auth/callback: finish the sign-in (state, code exchange, ID token) and set the desk session',
    tableActions: [],
    keyActions: ['kms:Sign', 'kms:GetPublicKey'], // verifies the login state, signs the session
    clientSecret: true,
    // Discovery, the token endpoint and the JWKS each have a 5 s limit.
    timeout: Duration.seconds(20),
  },
  logout: {
    description: 'POST /auth/logout: clear the desk session, continue at the identity provider',
    tableActions: [],
  },
};

export interface DeskFunctionsProps {
  readonly config: CarrelConfig;
  readonly table: dynamodb.ITable;
  readonly signingKey: kms.IKey;
  readonly logRetention: logs.RetentionDays;
  /** Folder of the entry points. @default lambdas/handlers/entry */
  readonly entryDir?: string;
  /** AWS workspaces (computeKind ec2 or fargate). @default - none: the handlers use the unconfigured compute */
  readonly workspaces?: Workspaces;
}

/** The environment every function gets (docs/contracts.md), from the deployment configuration. */
export function deskEnvironment(config: CarrelConfig, tableName: string, signingKeyId: string): Record<string, string> {
  return {
    TABLE_NAME: tableName,
    DEPLOYMENT_ID: config.deploymentId,
    DESK_DOMAIN: config.deskDomain,
    COOKIE_DOMAIN: config.deskDomain,
    PUBLIC_URL_SCHEME: 'https',
    COOKIE_SECURE: 'true',
    SIGNING_KEY_ID: signingKeyId,
    OIDC_ISSUER: config.oidc.issuer,
    OIDC_AUDIENCE: config.oidc.audience,
    OIDC_CLIENT_ID: config.oidc.clientId,
    ...(config.oidc.clientSecretArn ? { OIDC_CLIENT_SECRET_ARN: config.oidc.clientSecretArn } : {}),
    OIDC_SCOPES: config.oidc.scopes.join(' '),
    OIDC_ROLES_CLAIM: config.oidc.rolesClaim,
    SESSION_COOKIE: config.oidc.sessionCookie,
    SESSION_TTL_SECONDS: String(config.oidc.sessionTtlSeconds),
    IDLE_TIMEOUT_SECONDS: String(config.idle.timeoutSeconds),
    IDLE_WARNING_SECONDS: String(config.idle.warningSeconds),
    STOPPED_RETENTION_HOURS: String(config.idle.stoppedRetentionHours),
    GATE_COOKIE_TTL_SECONDS: String(config.tokens.gateCookieTtlSeconds),
    AGENT_TOKEN_TTL_SECONDS: String(config.tokens.agentTokenTtlSeconds),
    HEARTBEAT_SECONDS: String(config.tokens.heartbeatSeconds),
  };
}

export class DeskFunctions extends Construct {
  /** The functions by entry name. */
  readonly functions: Readonly<Record<EntryName, CarrelFunction>>;
  /** The dead-letter queues of the functions whose spec asks for one (`deadLetters`), by entry name. */
  readonly deadLetterQueues: Readonly<Partial<Record<EntryName, sqs.Queue>>>;

  constructor(scope: Construct, id: string, props: DeskFunctionsProps) {
    super(scope, id);
    const { config, table, signingKey, workspaces } = props;
    const environment = deskEnvironment(config, table.tableName, signingKey.keyArn);
    const functions = {} as Record<EntryName, CarrelFunction>;
    const deadLetterQueues: Partial<Record<EntryName, sqs.Queue>> = {};

    for (const name of ENTRY_NAMES) {
      const spec = FUNCTION_SPECS[name];
      const deadLetters = spec.deadLetters ? deadLetterQueue(this, `${pascal(name)}DeadLetters`, name) : undefined;
      if (deadLetters) deadLetterQueues[name] = deadLetters;
      const fn = new CarrelFunction(this, pascal(name), {
        name,
        description: `carrel ${config.deploymentId}: ${spec.description}`,
        environment: workspaces && spec.workspace ? { ...environment, ...workspaces.environment } : environment,
        timeout: spec.timeout,
        memorySize: spec.memorySize,
        logRetention: props.logRetention,
        logLevel: config.logLevel,
        entryDir: props.entryDir,
        retryAttempts: spec.retryAttempts,
        maxEventAge: spec.maxEventAge,
        onFailure: deadLetters ? new destinations.SqsDestination(deadLetters) : undefined,
      });
      fn.grantActions(spec.tableActions, [table.tableArn]);
      if (spec.indexes?.length) {
        fn.grantActions(
          ['dynamodb:Query'],
          spec.indexes.map((index) => `${table.tableArn}/index/${index}`),
        );
      }
      // With AWS workspaces, open also hands the gate the desk's public key (Fargate task overrides).
      const keyActions = workspaces && name === 'open' ? [...(spec.keyActions ?? []), 'kms:GetPublicKey'] : spec.keyActions;
      if (keyActions?.length) fn.grantActions(keyActions, [signingKey.keyArn]);
      // The client secret: exactly that secret (its full ARN), only for the callback.
      if (spec.clientSecret && config.oidc.clientSecretArn) fn.grantActions(['secretsmanager:GetSecretValue'], [config.oidc.clientSecretArn]);
      if (workspaces && spec.workspace) workspaces.grant(fn, [...spec.workspace, ...(workspaces.warmPool ? (spec.warmPool ?? []) : [])]);
      // The admin CLI finds the deployment's functions (and the desk's settings) by this tag.
      Tags.of(fn).add(FUNCTION_TAG, name);
      functions[name] = fn;
    }
    this.functions = functions;
    this.deadLetterQueues = deadLetterQueues;
  }
}

/**
 * A dead-letter queue: SSE-SQS (EventBridge can deliver to it without a key policy), TLS only, messages kept
 * the longest SQS allows (14 days). No alarm: the queue's ApproximateNumberOfMessagesVisible metric shows
 * what is in it.
 */
function deadLetterQueue(scope: Construct, id: string, name: EntryName): sqs.Queue {
  const queue = new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  Validations.of(queue).acknowledge({
    id: 'AwsSolutions-SQS3',
    reason: `This queue is itself the dead-letter queue of the ${name} function (its Lambda on-failure destination and its EventBridge targets' dead-letter queue); a dead-letter queue of a dead-letter queue would only move the same messages again.`,
  });
  return queue;
}

function pascal(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase());
}
