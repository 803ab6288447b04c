/** How SDK failures are classified, for every adapter (no SDK import: this module costs a bundle nothing). */
import { TransientError } from '../../../core/errors.js';

const TRANSIENT_NAMES = new Set([
  'ThrottlingException',
  'Throttling', // IAM and other query-protocol services
  'ThrottledException', // Resource Groups Tagging API
  'TooManyRequestsException', // Lambda, SES v2 sending rate
  'ProvisionedThroughputExceededException',
  'SlowDown', // S3 (also a 503)
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
  if (typeof status === 'number' && (status >= 500 || status === 429)) return true;
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

/** The SDK error's code (`name`), e.g. `InsufficientInstanceCapacity`. */
export function awsErrorName(error: unknown): string {
  return error && typeof error === 'object' && 'name' in error && typeof error.name === 'string' ? error.name : '';
}

/** `Code: message`, trimmed (EC2's UnauthorizedOperation carries a long encoded message). */
export function awsErrorDetail(error: unknown, max = 300): string {
  const name = awsErrorName(error);
  const message = error instanceof Error ? error.message : String(error);
  const text = name && name !== 'Error' && !message.startsWith(name) ? `${name}: ${message}` : message;
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
