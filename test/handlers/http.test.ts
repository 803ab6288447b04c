import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ConcurrentUpdateError,
  ConflictError,
  NotAllowedError,
  NotFoundError,
  TransientError,
  UnauthenticatedError,
  ValidationError,
} from '../../lambdas/core/index.js';
import { errorResponse, parseCookies, PayloadTooLargeError, readJsonBody, route } from '../../lambdas/handlers/http.js';
import { FakeLog } from '../support/fakes.js';
import { bodyOf, httpEvent } from './support.js';

describe('the error mapper', () => {
  const cases: [Error, number, string][] = [
    [new ValidationError('Invalid request: x must be y', ['x must be y']), 400, 'invalid_request'],
    [new PayloadTooLargeError('The request body is larger than 16 KiB'), 413, 'invalid_request'],
    [new UnauthenticatedError('You are not signed in'), 401, 'unauthenticated'],
    [new NotAllowedError('You are not a researcher on this analysis'), 403, 'not_allowed'],
    [new NotFoundError('There is no analysis "x"'), 404, 'not_found'],
    [new ConflictError('The workspace is not running'), 409, 'conflict'],
    [new ConcurrentUpdateError('Workspace kept changing; try again'), 409, 'conflict'],
  ];
  for (const [error, status, code] of cases) {
    it(`${error.name} → ${status} ${code} with its message`, () => {
      // Prepare
      const log = new FakeLog();
      // Act
      const result = errorResponse(error, log, { route: 'GET /x', requestId: 'r1' });
      // Assess
      assert.equal(result.statusCode, status);
      assert.equal(bodyOf(result).error.code, code);
      assert.equal(bodyOf(result).error.message, error.message);
      assert.equal(result.headers?.['cache-control'], 'no-store');
      assert.equal(result.headers?.['x-content-type-options'], 'nosniff');
      assert.equal(log.find('request refused', 'info').length, 1);
    });
  }

  it('puts the issues of a ValidationError in the body', () => {
    // Act
    const result = errorResponse(new ValidationError('Invalid request', ['body.a must be b']), new FakeLog());
    // Assess
    assert.deepEqual(bodyOf(result).error.issues, ['body.a must be b']);
  });

  it('TransientError → 503 unavailable with Retry-After', () => {
    // Act
    const result = errorResponse(new TransientError('The table is throttled'), new FakeLog());
    // Assess
    assert.equal(result.statusCode, 503);
    assert.equal(bodyOf(result).error.code, 'unavailable');
    assert.match(bodyOf(result).error.message, /The table is throttled\. Try again/);
    assert.equal(result.headers?.['retry-after'], '5');
  });

  it('anything else → 500 internal, leaking nothing, logged in full', () => {
    // Prepare
    const log = new FakeLog();
    const secret = new Error('connect to db-prod.internal:5432 with password hunter2 failed');
    // Act
    const result = errorResponse(new TypeError('x is undefined', { cause: secret }), log, { route: 'GET /x', requestId: 'req-9' });
    // Assess
    assert.equal(result.statusCode, 500);
    assert.equal(bodyOf(result).error.code, 'internal');
    assert.match(bodyOf(result).error.message, /Something went wrong on our side \(request req-9\)/);
    assert.doesNotMatch(result.body ?? '', /hunter2|db-prod|undefined|TypeError/);
    const [entry] = log.find('request failed', 'error');
    assert.equal((entry.data?.error as { message: string }).message, 'x is undefined');
    assert.match(String((entry.data?.error as { cause: string }).cause), /hunter2/);
  });

  it('route() sends thrown errors through the mapper and never logs the cookies or tokens of the request', async () => {
    // Prepare
    const log = new FakeLog();
    const handler = route(log, async () => {
      throw new Error('boom');
    });
    // Act
    const result = await handler(httpEvent('GET /api/me', { cookies: ['carrel_session=SECRET-SESSION'], headers: { authorization: 'Bearer SECRET-BEARER' } }));
    // Assess
    assert.equal(result.statusCode, 500);
    assert.doesNotMatch(JSON.stringify(log.entries), /SECRET/);
    assert.equal(log.entries[0].data?.route, 'GET /api/me');
  });
});

describe('request helpers', () => {
  it('parseCookies reads the v2 cookies array and a Cookie header; the first of a name wins', () => {
    // Act
    const cookies = parseCookies({ cookies: ['a=1', 'b=%20two', 'a=shadow'], headers: { Cookie: 'c=3; a=header; d="quoted"' } });
    // Assess
    assert.deepEqual({ ...cookies }, { a: '1', b: ' two', c: '3', d: 'quoted' });
  });

  it('readJsonBody: none → undefined, base64 decoded, whitespace-only → undefined', () => {
    // Act / Assess
    assert.equal(readJsonBody({ body: undefined, isBase64Encoded: false }), undefined);
    assert.equal(readJsonBody({ body: '  \n', isBase64Encoded: false }), undefined);
    assert.deepEqual(readJsonBody({ body: Buffer.from('{"a":1}').toString('base64'), isBase64Encoded: true }), { a: 1 });
  });

  it('readJsonBody counts bytes, not characters, against the limit', () => {
    // Prepare
    const multibyte = JSON.stringify({ s: 'é'.repeat(9000) }); // ~9 000 characters, ~18 000 bytes
    // Act / Assess
    assert.ok(multibyte.length < 16 * 1024);
    assert.throws(() => readJsonBody({ body: multibyte, isBase64Encoded: false }), PayloadTooLargeError);
    assert.throws(() => readJsonBody({ body: '{', isBase64Encoded: false }), ValidationError);
  });
});

describe('the Powertools log adapter', () => {
  it('keeps attributes whose names Powertools reserves', async () => {
    // Prepare
    const { Logger } = await import('@aws-lambda-powertools/logger');
    const { powertoolsLog } = await import('../../lambdas/handlers/powertools-log.js');
    const lines: string[] = [];
    const logger = new Logger({ serviceName: 'test', logLevel: 'INFO' });
    // Powertools writes through its own console object: capture what it writes.
    (logger as unknown as { console: { info: (line: string) => void } }).console = { ...console, info: (line: string) => lines.push(line) } as never;
    // Act
    powertoolsLog(logger).info('hello', { message: 'kept', route: 'GET /x' });
    // Assess
    const entry = JSON.parse(lines[0]);
    assert.equal(entry.message, 'hello');
    assert.equal(entry.detail_message, 'kept');
    assert.equal(entry.route, 'GET /x');
  });
});
