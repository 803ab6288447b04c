/**
 * SDK-shaped errors for aws-sdk-client-mock tests: what the AWS SDK v3 throws once its own retries are
 * spent. Service errors are instances of the service's exception class (`EC2ServiceException`,
 * `ECSServiceException`, a modeled class such as `AccessPointAlreadyExists`, ...) with the code as
 * `name`, `$fault` and the HTTP status in `$metadata`; client-side failures are plain errors with a
 * `name` (TimeoutError) or a Node `code` (ECONNRESET).
 */

interface ServiceExceptionOptions {
  name: string;
  $fault: 'client' | 'server';
  message?: string;
  $metadata: { httpStatusCode?: number; requestId?: string; attempts?: number };
}

/** A service exception class: the service's base (`XServiceException`) or a modeled exception. */
export type ExceptionClass<T extends Error = Error> = new (options: ServiceExceptionOptions & Record<string, unknown>) => T;

/** An error as the SDK deserializes it: code `name`, HTTP `status`, extra modeled fields. */
export function serviceError<T extends Error>(
  Exception: ExceptionClass<T>,
  name: string,
  status: number,
  message: string = name,
  extra: Record<string, unknown> = {},
): T {
  const error = new Exception({
    name,
    $fault: status >= 500 ? 'server' : 'client',
    message,
    $metadata: { httpStatusCode: status, requestId: 'test-request-id', attempts: 5 },
    ...extra,
  });
  return Object.assign(error, extra);
}

/** Throttling (ECS, EFS, most JSON services): HTTP 400 `ThrottlingException`. */
export function throttling<T extends Error>(Exception: ExceptionClass<T>, name = 'ThrottlingException'): T {
  return serviceError(Exception, name, 400, 'Rate exceeded');
}

/** EC2 throttling: HTTP 503 `RequestLimitExceeded`. */
export function requestLimitExceeded<T extends Error>(Exception: ExceptionClass<T>): T {
  return serviceError(Exception, 'RequestLimitExceeded', 503, 'Request limit exceeded.');
}

/** A service-side failure: HTTP 500 (`InternalError` on EC2, `ServerException` on ECS, `InternalServerError` on EFS). */
export function internalError<T extends Error>(Exception: ExceptionClass<T>, name = 'InternalError'): T {
  return serviceError(Exception, name, 500, 'An internal error has occurred');
}

/** The service is unavailable: HTTP 503 (`Unavailable` on EC2). */
export function serviceUnavailable<T extends Error>(Exception: ExceptionClass<T>, name = 'Unavailable'): T {
  return serviceError(Exception, name, 503, 'The server is overloaded and cannot handle the request');
}

/** The HTTP handler gave up waiting (no response). */
export function timeoutError(): Error {
  return Object.assign(new Error('Connection timed out after 3000 ms'), { name: 'TimeoutError' });
}

/** The connection was reset mid-request. */
export function connectionReset(): Error {
  return Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
}

/** EC2: no capacity for this instance type in this zone (EC2 answers it as a 500). */
export function insufficientCapacity<T extends Error>(Exception: ExceptionClass<T>, instanceType = 't4g.medium', zone = 'eu-west-2a'): T {
  return serviceError(
    Exception,
    'InsufficientInstanceCapacity',
    500,
    `We currently do not have sufficient ${instanceType} capacity in the Availability Zone you requested (${zone}). Our system will be working on provisioning additional capacity.`,
  );
}

/** EC2: the instance type is not offered in this subnet's zone. */
export function unsupportedInZone<T extends Error>(Exception: ExceptionClass<T>, instanceType = 't4g.medium', zone = 'eu-west-2c'): T {
  return serviceError(
    Exception,
    'Unsupported',
    400,
    `Your requested instance type (${instanceType}) is not supported in your requested Availability Zone (${zone}).`,
  );
}

/** EC2: not permitted (the message carries an encoded authorization message). */
export function unauthorized<T extends Error>(Exception: ExceptionClass<T>): T {
  return serviceError(
    Exception,
    'UnauthorizedOperation',
    403,
    `You are not authorized to perform this operation. Encoded authorization failure message: ${'x'.repeat(600)}`,
  );
}

/** A client error with this code (HTTP 400). */
export function clientError<T extends Error>(Exception: ExceptionClass<T>, name: string, message: string = name, extra: Record<string, unknown> = {}): T {
  return serviceError(Exception, name, 400, message, extra);
}
