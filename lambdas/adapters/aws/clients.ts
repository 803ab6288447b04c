/**
 * The one module that creates AWS SDK clients. Each client is created once per configuration
 * (per endpoint, region and credentials) and reused; code that uses a client takes it injected.
 *
 * Production passes no options (region and credentials come from the Lambda environment). Local mode
 * and tests pass `localAwsOptions(endpoint)` to talk to dynalite with dummy credentials.
 *
 * To add a client (EC2, ECS, EFS, Route 53, ...): add one factory below that calls `memoized`
 * with its own `kind`, exactly like `dynamoClient`.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ECSClient } from '@aws-sdk/client-ecs';
import { EFSClient } from '@aws-sdk/client-efs';
import { IAMClient } from '@aws-sdk/client-iam';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { Route53Client } from '@aws-sdk/client-route-53';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { TransientError } from '../../core/errors.js';

export interface AwsClientOptions {
  /** Service endpoint override (e.g. `http://127.0.0.1:4567` for dynalite). */
  readonly endpoint?: string;
  readonly region?: string;
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  /** SDK retry attempts (the SDK default is 3). */
  readonly maxAttempts?: number;
}

/** Options for a local endpoint: dummy credentials and region, so no AWS account is involved. */
export function localAwsOptions(endpoint: string): AwsClientOptions {
  return {
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  };
}

interface Destroyable {
  destroy(): void;
}

const cache = new Map<string, Destroyable>();

function configKey(options: AwsClientOptions): string {
  return [options.endpoint ?? '', options.region ?? '', options.credentials?.accessKeyId ?? '', options.maxAttempts ?? ''].join('|');
}

function cacheKey(kind: string, options: AwsClientOptions): string {
  return `${kind}|${configKey(options)}`;
}

/** Create a client of `kind` for these options once; later calls return the same instance. */
function memoized<T extends Destroyable>(kind: string, options: AwsClientOptions, create: () => T): T {
  const key = cacheKey(kind, options);
  let client = cache.get(key) as T | undefined;
  if (!client) {
    client = create();
    cache.set(key, client);
  }
  return client;
}

function baseConfig(options: AwsClientOptions) {
  return {
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.region ? { region: options.region } : {}),
    ...(options.credentials ? { credentials: { ...options.credentials } } : {}),
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
  };
}

export function dynamoClient(options: AwsClientOptions = {}): DynamoDBClient {
  return memoized('dynamodb', options, () => new DynamoDBClient(baseConfig(options)));
}

/**
 * Document client over `dynamoClient(options)`. `removeUndefinedValues` lets adapters write records
 * whose optional fields are unset: the attribute is simply absent (which keeps sparse indexes sparse).
 */
export function dynamoDocumentClient(options: AwsClientOptions = {}): DynamoDBDocumentClient {
  return memoized('dynamodb-document', options, () =>
    DynamoDBDocumentClient.from(dynamoClient(options), {
      marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    }),
  );
}

/** KMS client (the desk's signing key, see kms-signer.ts). */
export function kmsClient(options: AwsClientOptions = {}): KMSClient {
  return memoized('kms', options, () => new KMSClient(baseConfig(options)));
}

/**
 * Control-plane APIs with low request-rate limits (EC2, ECS, EFS, Route 53: a few requests per second per
 * account) retry with the SDK's adaptive mode, which backs off client-side on throttling.
 */
const ADAPTIVE = { retryMode: 'adaptive' as const, maxAttempts: 5 };

export function ec2Client(options: AwsClientOptions = {}): EC2Client {
  return memoized('ec2', options, () => new EC2Client({ ...ADAPTIVE, ...baseConfig(options) }));
}

export function ecsClient(options: AwsClientOptions = {}): ECSClient {
  return memoized('ecs', options, () => new ECSClient({ ...ADAPTIVE, ...baseConfig(options) }));
}

export function efsClient(options: AwsClientOptions = {}): EFSClient {
  return memoized('efs', options, () => new EFSClient({ ...ADAPTIVE, ...baseConfig(options) }));
}

/** IAM (the Fargate home task roles, iam-home-roles.ts); a control plane with low rate limits too. */
export function iamClient(options: AwsClientOptions = {}): IAMClient {
  return memoized('iam', options, () => new IAMClient({ ...ADAPTIVE, ...baseConfig(options) }));
}

export function route53Client(options: AwsClientOptions = {}): Route53Client {
  return memoized('route53', options, () => new Route53Client({ ...ADAPTIVE, ...baseConfig(options) }));
}

export function lambdaClient(options: AwsClientOptions = {}): LambdaClient {
  return memoized('lambda', options, () => new LambdaClient(baseConfig(options)));
}

export function secretsManagerClient(options: AwsClientOptions = {}): SecretsManagerClient {
  return memoized('secretsmanager', options, () => new SecretsManagerClient(baseConfig(options)));
}

/**
 * Destroy the clients created here (closes their sockets) and forget them: all of them, or only those
 * made for `options` (a test or the local runtime shutting down its own endpoint).
 */
export function destroyClients(options?: AwsClientOptions): void {
  const suffix = options ? `|${configKey(options)}` : undefined;
  for (const [key, client] of cache) {
    if (suffix && !key.endsWith(suffix)) continue;
    client.destroy();
    cache.delete(key);
  }
}

const TRANSIENT_NAMES = new Set([
  'ThrottlingException',
  'Throttling', // IAM and other query-protocol services
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'InternalServerError',
  'InternalFailure',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
]);
const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND']);

/**
 * True for SDK failures that may pass when retried: throttling, service-side 5xx, timeouts and
 * network errors. (SDK errors carry no shared class hierarchy for this, so their `name`,
 * `$retryable` and HTTP status are what the SDK itself documents to check.)
 */
export function isTransientAwsError(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const e = error as { name?: string; code?: string; $retryable?: unknown; $fault?: string; $metadata?: { httpStatusCode?: number } };
  if (e.$retryable) return true;
  if (e.$fault === 'server') return true;
  const status = e.$metadata?.httpStatusCode;
  if (typeof status === 'number' && status >= 500) return true;
  if (e.name && TRANSIENT_NAMES.has(e.name)) return true;
  if (e.code && TRANSIENT_CODES.has(e.code)) return true;
  return false;
}

/** Wrap transient SDK failures in core's TransientError (with the cause); rethrow anything else as is. */
export function rethrowAwsError(error: unknown, what: string): never {
  if (isTransientAwsError(error)) {
    throw new TransientError(`${what} failed for now: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  throw error;
}
