/**
 * API Gateway HTTP API (payload v2) helpers: reading requests, writing JSON responses, and THE one place
 * where errors become HTTP statuses.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import * as z from 'zod';
import {
  CarrelError,
  ConcurrentUpdateError,
  ConflictError,
  NotAllowedError,
  NotFoundError,
  TransientError,
  UnauthenticatedError,
  ValidationError,
  type Log,
} from '../core/index.js';
import { IdentityProviderError } from '../adapters/oidc-client.js';
import { IntegrityError } from '../core/runs/manifest.js';

export type HttpEvent = APIGatewayProxyEventV2;
export type HttpResult = APIGatewayProxyStructuredResultV2;
export type HttpHandler = (event: HttpEvent, context?: Context) => Promise<HttpResult>;

export const MAX_BODY_BYTES = 16 * 1024;
export const RETRY_AFTER_SECONDS = 5;

export type ErrorCode = 'not_allowed' | 'not_found' | 'invalid_request' | 'unauthenticated' | 'conflict' | 'unavailable' | 'internal';

/** The request body is larger than the desk accepts. */
export class PayloadTooLargeError extends CarrelError {}

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const;

export function json(statusCode: number, body: unknown, extra: { headers?: Record<string, string>; cookies?: string[] } = {}): HttpResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json; charset=utf-8', ...SECURITY_HEADERS, ...extra.headers },
    body: JSON.stringify(body),
    ...(extra.cookies?.length ? { cookies: extra.cookies } : {}),
  };
}

export function noContent(): HttpResult {
  return { statusCode: 204, headers: { ...SECURITY_HEADERS } };
}

/** A header by name, whatever its case (API Gateway lower-cases them; other callers may not). */
export function header(event: Pick<HttpEvent, 'headers'>, name: string): string | undefined {
  const headers = event.headers ?? {};
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted && value !== undefined) return value;
  }
  return undefined;
}

/** Cookies from the v2 `cookies` array and any `Cookie` header; the first of a name wins. */
export function parseCookies(event: Pick<HttpEvent, 'cookies' | 'headers'>): Record<string, string> {
  const pairs = [...(event.cookies ?? []), ...(header(event, 'cookie')?.split(';') ?? [])];
  const cookies: Record<string, string> = Object.create(null);
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const name = pair.slice(0, eq).trim();
    let value = pair.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (!name || name in cookies) continue;
    try {
      cookies[name] = decodeURIComponent(value);
    } catch {
      cookies[name] = value;
    }
  }
  return cookies;
}

/**
 * The JSON body, or undefined when there is none. Refuses bodies over `limit` bytes (413) and text that
 * is not JSON (400); the schema of each route decides what shape is acceptable.
 */
export function readJsonBody(event: Pick<HttpEvent, 'body' | 'isBase64Encoded'>, limit = MAX_BODY_BYTES): unknown {
  if (event.body === undefined || event.body === null || event.body === '') return undefined;
  // Cheap guard before decoding: base64 is 4/3 the size, plain text at least one byte per character.
  if (event.body.length > (event.isBase64Encoded ? Math.ceil((limit * 4) / 3) + 4 : limit)) throw tooLarge(limit);
  const raw = event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
  if (raw.byteLength > limit) throw tooLarge(limit);
  const text = raw.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new ValidationError('The request body is not valid JSON', ['body is not valid JSON']);
  }
}

function tooLarge(limit: number) {
  return new PayloadTooLargeError(`The request body is larger than the ${Math.round(limit / 1024)} KiB this API accepts`);
}

/**
 * Parse `value` with `schema`, turning zod's issues into a ValidationError that names each field.
 * Schema messages are predicates ("must be ...") that read after the field's path.
 */
export function validate<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => `${[what, ...issue.path.map(String)].join('.')} ${issue.message}`);
  throw new ValidationError(`Invalid request: ${issues.join('; ')}`, issues);
}

interface Mapped {
  readonly status: number;
  readonly code: ErrorCode;
  readonly message: string;
  readonly issues?: readonly string[];
  readonly headers?: Record<string, string>;
}

function classify(error: unknown, requestId: string | undefined): Mapped {
  if (error instanceof ValidationError) return { status: 400, code: 'invalid_request', message: error.message, issues: error.issues };
  if (error instanceof PayloadTooLargeError) return { status: 413, code: 'invalid_request', message: error.message };
  if (error instanceof UnauthenticatedError) return { status: 401, code: 'unauthenticated', message: error.message };
  if (error instanceof NotAllowedError) return { status: 403, code: 'not_allowed', message: error.message };
  if (error instanceof NotFoundError) return { status: 404, code: 'not_found', message: error.message };
  // Stored files that no longer match their manifest: nothing is served or decided on them.
  if (error instanceof IntegrityError) return { status: 409, code: 'conflict', message: error.message };
  if (error instanceof ConflictError || error instanceof ConcurrentUpdateError) return { status: 409, code: 'conflict', message: error.message };
  // The identity provider (not the caller, not the desk) failed: unreachable, too slow, or a bad answer.
  if (error instanceof IdentityProviderError) return { status: 502, code: 'unavailable', message: `${error.message}. Try signing in again in a minute.` };
  if (error instanceof TransientError) {
    return {
      status: 503,
      code: 'unavailable',
      message: `${error.message}. Try again in a few seconds.`,
      headers: { 'retry-after': String(RETRY_AFTER_SECONDS) },
    };
  }
  return {
    status: 500,
    code: 'internal',
    message: `Something went wrong on our side${requestId ? ` (request ${requestId})` : ''}. Try again; if it persists, tell support.`,
  };
}

/**
 * THE error mapper: a domain error becomes its status and `{ error: { code, message } }`; anything else is a
 * 500 whose response reveals nothing of the error (it is logged in full instead). Never logs tokens or cookies.
 */
export function errorResponse(error: unknown, log: Log, request?: { readonly route?: string; readonly requestId?: string }): HttpResult {
  const mapped = classify(error, request?.requestId);
  const context = { route: request?.route, requestId: request?.requestId, status: mapped.status, code: mapped.code };
  if (mapped.status >= 500) {
    log.error('request failed', { ...context, error: describe(error) });
  } else {
    log.info('request refused', { ...context, reason: mapped.message, ...(error instanceof Error && error.cause ? { cause: describeCause(error.cause) } : {}) });
  }
  const body = { error: { code: mapped.code, message: mapped.message, ...(mapped.issues?.length ? { issues: mapped.issues } : {}) } };
  return json(mapped.status, body, { headers: mapped.headers });
}

function describe(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { value: String(error) };
  return { name: error.name, message: error.message, stack: error.stack, ...(error.cause ? { cause: describeCause(error.cause) } : {}) };
}

function describeCause(cause: unknown): string {
  return cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
}

/** A redirect the browser follows (sign-in), with cookies to set or clear. */
export function redirect(location: string, cookies: string[] = [], statusCode = 302): HttpResult {
  return { statusCode, headers: { location, ...SECURITY_HEADERS }, ...(cookies.length ? { cookies } : {}) };
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The sign-in routes are pages the browser navigates to, not API calls: their errors are mapped exactly like
 * the API's (same statuses, same log lines), but answered as a small HTML page with a way back.
 */
export function pageRoute(log: Log, handle: (event: HttpEvent, context?: Context) => Promise<HttpResult>, cookiesOnError: (event: HttpEvent) => string[] = () => []): HttpHandler {
  return async (event, context) => {
    try {
      return await handle(event, context);
    } catch (error) {
      const mapped = errorResponse(error, log, requestInfo(event));
      const { message } = (JSON.parse(mapped.body ?? '{}') as { error?: { message?: string } }).error ?? {};
      const title = (mapped.statusCode ?? 500) >= 500 ? 'Sign-in is not available right now' : 'Sign-in did not complete';
      const body = `<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${title} · carrel</title><style>body{font:16px system-ui,sans-serif;margin:4rem auto;max-width:36rem;padding:0 1rem;color:#222}</style><main><h1>${title}</h1><p data-testid="sign-in-failure">${escapeHtml(message ?? 'Something went wrong.')}</p><p><a href="/auth/login">Sign in again</a></p></main></html>`;
      const cookies = cookiesOnError(event);
      return {
        statusCode: mapped.statusCode,
        headers: { ...mapped.headers, 'content-type': 'text/html; charset=utf-8' },
        body,
        ...(cookies.length ? { cookies } : {}),
      };
    }
  };
}

/** Route label and request id for logs (never headers, cookies or bodies). */
export function requestInfo(event: HttpEvent): { route: string; requestId?: string } {
  return { route: event.routeKey ?? `${event.requestContext?.http?.method} ${event.rawPath}`, requestId: event.requestContext?.requestId };
}

/** Wrap a route so every failure goes through the one error mapper. */
export function route(log: Log, handle: (event: HttpEvent, context?: Context) => Promise<HttpResult>): HttpHandler {
  return async (event, context) => {
    try {
      return await handle(event, context);
    } catch (error) {
      return errorResponse(error, log, requestInfo(event));
    }
  };
}
