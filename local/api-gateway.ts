import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { HttpHandler } from '../lambdas/handlers/app.js';

export interface Route {
  readonly method: string;
  /** HTTP API route path, e.g. `/api/workspaces/{analysisId}`. */
  readonly path: string;
  readonly handler: HttpHandler;
}

/** API Gateway rejects payloads over 10 MB before any Lambda runs; so does this stand-in. */
const MAX_PAYLOAD = 10 * 1024 * 1024;

function compile(path: string) {
  const names: string[] = [];
  // `{name+}` is API Gateway's greedy parameter: the rest of the path, slashes included.
  const pattern = path.replace(/\{(\w+)(\+?)\}/g, (_, name: string, greedy: string) => {
    names.push(name);
    return greedy ? '(.+)' : '([^/]+)';
  });
  return { regex: new RegExp(`^${pattern}$`), names };
}

/**
 * The local stand-in for API Gateway's HTTP API: matches a route, builds the same v2 event a Lambda
 * receives, calls the very handler the Lambda runs, and writes its v2 result back.
 */
export class LocalHttpApi {
  private readonly routes: { route: Route; regex: RegExp; names: string[] }[];

  constructor(routes: readonly Route[]) {
    this.routes = routes.map((route) => ({ route, ...compile(route.path) }));
  }

  matches(path: string): boolean {
    return this.routes.some((r) => r.regex.test(path));
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
    const candidates = this.routes.filter((r) => r.regex.test(url.pathname));
    const match = candidates.find((r) => r.route.method === req.method);
    if (!match) {
      const status = candidates.length ? 405 : 404;
      return send(res, { statusCode: status, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: status === 404 ? 'Not Found' : 'Method Not Allowed' }) });
    }
    const body = await readBody(req);
    if (body === 'too-large') {
      return send(res, { statusCode: 413, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: 'Request Entity Too Large' }) });
    }
    const values = match.regex.exec(url.pathname)?.slice(1) ?? [];
    const pathParameters = Object.fromEntries(match.names.map((name, i) => [name, decodeURIComponent(values[i])]));
    const event = toEvent(req, url, `${match.route.method} ${match.route.path}`, pathParameters, body);
    let result: APIGatewayProxyResultV2;
    try {
      result = await match.route.handler(event);
    } catch {
      result = { statusCode: 500, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: 'Internal Server Error' }) };
    }
    send(res, typeof result === 'string' ? { statusCode: 200, headers: { 'content-type': 'application/json' }, body: result } : result);
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer | 'too-large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_PAYLOAD) return 'too-large';
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function toEvent(req: IncomingMessage, url: URL, routeKey: string, pathParameters: Record<string, string>, body: Buffer): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (name === 'cookie' || value === undefined) continue;
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const cookies = (req.headers.cookie ?? '')
    .split(';')
    .map((c) => c.trim())
    .filter(Boolean);
  const now = new Date();
  const text = body.toString('utf8');
  const isText = body.length === 0 || Buffer.from(text, 'utf8').equals(body);
  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    cookies: cookies.length ? cookies : undefined,
    headers,
    queryStringParameters: url.search ? Object.fromEntries(url.searchParams) : undefined,
    pathParameters: Object.keys(pathParameters).length ? pathParameters : undefined,
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: (headers.host ?? 'localhost').split('.')[0],
      http: {
        method: req.method ?? 'GET',
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    body: body.length ? (isText ? text : body.toString('base64')) : undefined,
    isBase64Encoded: body.length > 0 && !isText,
  };
}

function send(res: ServerResponse, result: APIGatewayProxyStructuredResultV2) {
  const headers: Record<string, string | number | boolean | string[]> = { ...(result.headers ?? {}) };
  if (result.cookies?.length) headers['set-cookie'] = result.cookies;
  const body = result.body === undefined ? undefined : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8');
  res.writeHead(result.statusCode ?? 200, headers as Record<string, string | string[]>);
  res.end(body);
}
