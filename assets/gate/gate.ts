/**
 * The gate: the only way a browser reaches a workspace's tool.
 *
 * It admits a request only when it carries this workspace's cookie (`carrel_gate_<hostLabel>`, an ES256
 * JWT signed by the desk for audience = this hostname), and proxies it to the tool with streaming both
 * ways, the Host header kept, the tool's credentials injected and every `carrel_gate_*` cookie removed.
 * Everything else gets a clear page and never reaches the tool. It holds only the desk's public key.
 */
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createProxyServer } from 'http-proxy-3';
import { decodeJwt, errors as joseErrors } from 'jose';
import { GATE_COOKIE_PREFIX, gateCookieName, InvalidTokenError, TokenVerifier } from '../../lambdas/adapters/tokens.js';
import {
  ActivityReporter,
  ActivityTracker,
  classifyRequest,
  createBusyProbe,
  realTimers,
  WsFrameCounter,
  type FetchLike,
  type ReportOutcome,
  type Timers,
} from './activity.js';
import type { GateConfig } from './config.js';
import { createLogger, describeError, pathOnly, type Logger } from './log.js';
import { renderPage, type PageKind } from './pages.js';

export const HEALTH_PATH = '/__carrel/health';
const RESERVED_PREFIX = '/__carrel/';
const IDLE_EXCHANGE_MS = 10 * 60_000;

export interface GateDeps {
  /** Clock for token expiry and activity times. */
  readonly now?: () => Date;
  /** Used for the health check, the busy probe and activity reports. */
  readonly fetch?: FetchLike;
  /** Timer for the activity report loop. */
  readonly timers?: Timers;
  readonly log?: Logger;
}

export interface Gate {
  readonly server: http.Server;
  /** The port actually listened on (useful with port 0). */
  readonly port: number;
  readonly activity: ActivityTracker;
  /** Runs one activity-reporting round now (what the timer does every `reportSeconds`). */
  reportActivity(): Promise<ReportOutcome>;
  /** Stops reporting, stops accepting, closes idle connections and WebSockets; ends the rest after `graceMs`. */
  close(options?: { graceMs?: number }): Promise<void>;
}

export type Refusal = 'missing' | 'expired' | 'other-workspace' | 'invalid';

/** Verifies gate cookies for one hostname, remembering good ones until they expire. */
export class CookieCheck {
  private readonly verified = new Map<string, number>();
  readonly cookieName: string;

  constructor(
    private readonly verifier: TokenVerifier,
    private readonly hostname: string,
    hostLabel: string,
    private readonly now: () => Date,
    private readonly maxCached = 1_000,
  ) {
    this.cookieName = gateCookieName(hostLabel);
  }

  /** Undefined when admitted, else why not. */
  async check(cookieHeader: string | undefined): Promise<Refusal | undefined> {
    const candidates = cookieValues(cookieHeader, this.cookieName).slice(0, 4);
    if (candidates.length === 0) return 'missing';
    const nowMs = this.now().getTime();
    for (const token of candidates) {
      const until = this.verified.get(token);
      if (until !== undefined) {
        if (until > nowMs) return undefined;
        this.verified.delete(token);
      }
    }
    let worst: Refusal | undefined;
    const rank: Record<Refusal, number> = { missing: 0, invalid: 1, 'other-workspace': 2, expired: 3 };
    for (const token of candidates) {
      try {
        await this.verifier.verifyGateCookie(token, this.hostname, this.now());
        this.remember(token, decodeJwt(token).exp);
        return undefined;
      } catch (error) {
        const reason = refusalOf(error);
        if (!worst || rank[reason] > rank[worst]) worst = reason;
      }
    }
    return worst ?? 'invalid';
  }

  private remember(token: string, exp: number | undefined): void {
    if (exp === undefined) return;
    if (this.verified.size >= this.maxCached) {
      const nowMs = this.now().getTime();
      for (const [t, until] of this.verified) if (until <= nowMs) this.verified.delete(t);
      if (this.verified.size >= this.maxCached) this.verified.clear();
    }
    this.verified.set(token, exp * 1000);
  }
}

function refusalOf(error: unknown): Refusal {
  if (error instanceof InvalidTokenError) {
    if (error.cause instanceof joseErrors.JWTExpired) return 'expired';
    if (error.cause instanceof joseErrors.JWTClaimValidationFailed && error.cause.claim === 'aud') return 'other-workspace';
  }
  return 'invalid';
}

/** Values of every cookie with exactly this name in a Cookie header. */
export function cookieValues(header: string | undefined, name: string): string[] {
  if (!header) return [];
  const values: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1 || part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (value) values.push(value);
  }
  return values;
}

/** The Cookie header without any `carrel_gate_*` cookie (undefined when nothing is left). */
export function stripGateCookies(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const kept = header
    .split(';')
    .map((part) => part.trim())
    .filter((part) => part && !part.startsWith(GATE_COOKIE_PREFIX));
  return kept.length ? kept.join('; ') : undefined;
}

/**
 * Sets `frame-ancestors <desk>` in a Content-Security-Policy header value (one or more comma-separated
 * policies), replacing only that directive wherever the tool set it and keeping everything else.
 */
export function withFrameAncestors(csp: string | string[] | undefined, deskOrigin: string): string {
  const directive = `frame-ancestors ${deskOrigin}`;
  const value = Array.isArray(csp) ? csp.join(', ') : csp;
  if (!value || !value.trim()) return directive;
  let replaced = false;
  const policies = value.split(',').map((policy) =>
    policy
      .split(';')
      .map((d) => d.trim())
      .filter(Boolean)
      .map((d) => {
        if (d.split(/\s+/)[0]!.toLowerCase() !== 'frame-ancestors') return d;
        replaced = true;
        return directive;
      }),
  );
  if (!replaced) policies[0]!.push(directive);
  return policies.map((directives) => directives.join('; ')).join(', ');
}

const REASON_PAGE: Record<Refusal, PageKind> = {
  missing: 'signed-out',
  expired: 'signed-out',
  'other-workspace': 'not-allowed',
  invalid: 'not-allowed',
};

/** Logs at most one line per key and window, counting what it held back. */
function throttled(log: Logger, now: () => Date, windowMs = 10_000) {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (key: string, msg: string, fields: Record<string, string | number | boolean | undefined>) => {
    const t = now().getTime();
    const seen = last.get(key);
    if (seen && t - seen.at < windowMs) {
      seen.suppressed++;
      return;
    }
    last.set(key, { at: t, suppressed: 0 });
    log.info(msg, { ...fields, suppressedBefore: seen?.suppressed || undefined });
  };
}

export async function createGate(config: GateConfig, deps: GateDeps = {}): Promise<Gate> {
  const now = deps.now ?? (() => new Date());
  const log = deps.log ?? createLogger();
  const fetchImpl: FetchLike = deps.fetch ?? ((input, init) => fetch(input, init));
  const verifier = await TokenVerifier.fromPem(config.publicKeyPem);
  const cookies = new CookieCheck(verifier, config.hostname, config.hostLabel, now);
  const tracker = new ActivityTracker(now);
  const logRefusal = throttled(log, now);

  // Where the pages send people: the analysis's desk page when the agent token says which one.
  let deskUrl = `${config.deskOrigin}/`;
  if (config.agentToken) {
    try {
      const agent = await verifier.verifyAgentToken(config.agentToken, now());
      deskUrl = `${config.deskOrigin}/a/${encodeURIComponent(agent.analysisId)}`;
    } catch (error) {
      log.warn('the agent token does not verify with the desk key; activity reports will likely be refused', describeError(error));
    }
  }

  const upstreamIsHttps = config.upstream.protocol === 'https:';
  const agent = upstreamIsHttps
    ? new https.Agent({ keepAlive: true, maxFreeSockets: 64, timeout: 30_000 })
    : new http.Agent({ keepAlive: true, maxFreeSockets: 64, timeout: 30_000 });
  const proxy = createProxyServer({ target: config.upstream, xfwd: true, agent, changeOrigin: false });
  const webSockets = new Set<Duplex>();
  const upgraded = new WeakSet<Duplex>();

  const pageHeaders = (length: number) => ({
    'content-type': 'text/html; charset=utf-8',
    'content-length': String(length),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'content-security-policy': `default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors ${config.deskOrigin}`,
  });

  const sendPage = (req: http.IncomingMessage, res: http.ServerResponse, kind: PageKind) => {
    const page = renderPage(kind, deskUrl);
    const body = Buffer.from(page.html);
    const headers: Record<string, string> = pageHeaders(body.length);
    // An unread request body (a refused upload) is not worth reading: close after answering.
    if (req.headers['content-length'] || req.headers['transfer-encoding']) headers.connection = 'close';
    res.writeHead(page.status, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  const refuseUpgrade = (socket: Duplex, kind: PageKind | 'bad-upgrade') => {
    if (kind === 'bad-upgrade') {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const page = renderPage(kind, deskUrl);
    const body = Buffer.from(page.html);
    const head = Object.entries({ ...pageHeaders(body.length), connection: 'close' })
      .map(([k, v]) => `${k}: ${v}`)
      .join('\r\n');
    socket.end(`HTTP/1.1 ${page.status} ${http.STATUS_CODES[page.status]}\r\n${head}\r\n\r\n${page.html}`);
  };

  /** What the tool sees: no gate cookies, the tool's own credentials. */
  const prepareUpstream = (req: http.IncomingMessage) => {
    const cookie = stripGateCookies(req.headers.cookie);
    if (cookie) req.headers.cookie = cookie;
    else delete req.headers.cookie;
    if (config.upstreamAuth) req.headers.authorization = config.upstreamAuth;
  };

  const upstreamAnswers = async (): Promise<boolean> => {
    try {
      const response = await fetchImpl(config.upstream, {
        headers: config.upstreamAuth ? { authorization: config.upstreamAuth } : {},
        redirect: 'manual',
        signal: AbortSignal.timeout(3_000),
      });
      await response.body?.cancel();
      return response.status < 500;
    } catch {
      return false;
    }
  };

  proxy.on('proxyRes', (proxyRes, _req, res) => {
    const headers = proxyRes.headers;
    delete headers['x-frame-options'];
    headers['content-security-policy'] = withFrameAncestors(headers['content-security-policy'], config.deskOrigin);
    // The tool hung up mid-response: do not leave the browser waiting for the rest.
    proxyRes.on('error', () => res.destroy());
    proxyRes.on('close', () => {
      if (!proxyRes.complete) res.destroy();
    });
  });

  proxy.on('proxyReqWs', (proxyReq, _req, socket) => {
    proxyReq.on('upgrade', (_res, proxySocket) => {
      upgraded.add(socket);
      webSockets.add(proxySocket);
      proxySocket.once('close', () => webSockets.delete(proxySocket));
      // Count the browser's data frames as they pass (the proxy pipes the same bytes on).
      const frames = new WsFrameCounter();
      socket.on('data', (chunk: Buffer) => tracker.note('websocket', frames.feed(chunk)));
    });
  });

  proxy.on('error', (error, req, target) => {
    const path = pathOnly(req.url);
    if (target instanceof http.ServerResponse) {
      log.warn('the tool is not answering', { method: req.method, path, ...describeError(error) });
      if (!target.headersSent) sendPage(req, target, 'upstream-down');
      else target.destroy();
      return;
    }
    const socket = target as Duplex;
    log.warn('websocket to the tool failed', { path, ...describeError(error) });
    if (!upgraded.has(socket) && socket.writable) refuseUpgrade(socket, 'upstream-down');
    else socket.destroy();
  });
  proxy.on('econnreset', () => {
    /* the browser went away: the proxy already tore down the upstream request */
  });

  const onRequest = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = pathOnly(req.url);
    if (path.startsWith(RESERVED_PREFIX)) {
      if (path === HEALTH_PATH && (req.method === 'GET' || req.method === 'HEAD')) {
        const ok = await upstreamAnswers();
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : JSON.stringify({ status: ok ? 'ok' : 'unavailable' }));
        return;
      }
      sendPage(req, res, 'not-found');
      return;
    }
    const refusal = await cookies.check(req.headers.cookie);
    if (refusal) {
      logRefusal(`http:${refusal}`, 'request refused', { reason: refusal, method: req.method, path, remote: req.socket.remoteAddress });
      sendPage(req, res, REASON_PAGE[refusal]);
      return;
    }
    const kind = classifyRequest(req.method, req.headers);
    if (kind) tracker.note(kind);
    prepareUpstream(req);
    proxy.web(req, res, {});
  };

  const onUpgrade = async (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const path = pathOnly(req.url);
    if (req.method !== 'GET' || req.headers.upgrade?.toLowerCase() !== 'websocket' || path.startsWith(RESERVED_PREFIX)) {
      refuseUpgrade(socket, 'bad-upgrade');
      return;
    }
    const refusal = await cookies.check(req.headers.cookie);
    if (refusal) {
      logRefusal(`ws:${refusal}`, 'websocket refused', { reason: refusal, path, remote: req.socket.remoteAddress });
      refuseUpgrade(socket, REASON_PAGE[refusal]);
      return;
    }
    webSockets.add(socket);
    socket.once('close', () => webSockets.delete(socket));
    prepareUpstream(req);
    // A fresh connection per WebSocket (never from the keep-alive pool).
    proxy.ws(req, socket, head, { agent: false });
  };

  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    onRequest(req, res).catch((error) => {
      log.error('request failed in the gate', { path: pathOnly(req.url), ...describeError(error) });
      if (!res.headersSent) sendPage(req, res, 'upstream-down');
      else res.destroy();
    });
  };
  const serverOptions: http.ServerOptions = { requestTimeout: 0, keepAliveTimeout: 65_000 };
  const server: http.Server = config.tls
    ? https.createServer({ ...serverOptions, cert: config.tls.cert, key: config.tls.key }, handler)
    : http.createServer(serverOptions, handler);
  server.headersTimeout = 66_000;
  // A proxied exchange where no byte moves either way for this long is dead (e.g. a browser gone while
  // the tool stopped reading its upload): end it. WebSockets are exempt (the proxy clears their timeout).
  server.timeout = IDLE_EXCHANGE_MS;
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    onUpgrade(req, socket, head).catch((error) => {
      log.error('websocket failed in the gate', { path: pathOnly(req.url), ...describeError(error) });
      socket.destroy();
    });
  });
  server.on('clientError', (error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
    log.debug('client error', describeError(error));
  });

  const reporter =
    config.activityUrl && config.agentToken
      ? new ActivityReporter({
          url: config.activityUrl,
          agentToken: config.agentToken,
          intervalMs: config.reportSeconds * 1000,
          tracker,
          probe: createBusyProbe(config.busyProbe, { upstream: config.upstream, upstreamAuth: config.upstreamAuth, fetch: fetchImpl, log }),
          fetch: fetchImpl,
          log,
          timers: deps.timers ?? realTimers,
        })
      : undefined;

  server.listen(config.port, config.listenHost);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  reporter?.start();
  log.info('gate listening', {
    port,
    host: config.listenHost,
    tls: config.tls?.source ?? false,
    hostname: config.hostname,
    cookie: cookies.cookieName,
    upstream: config.upstream.origin,
    upstreamAuth: Boolean(config.upstreamAuth),
    activityReports: reporter ? config.reportSeconds : false,
    busyProbe: config.busyProbe,
  });

  let closing: Promise<void> | undefined;
  return {
    server,
    port,
    activity: tracker,
    reportActivity: async () => (reporter ? reporter.tick() : { sent: false, reason: 'disabled' }),
    close: ({ graceMs = 5_000 } = {}) => {
      closing ??= (async () => {
        reporter?.stop();
        const closed = once(server, 'close');
        server.close();
        server.closeIdleConnections();
        for (const socket of webSockets) socket.destroy();
        const force = setTimeout(() => server.closeAllConnections(), graceMs);
        force.unref();
        await closed;
        clearTimeout(force);
        agent.destroy();
        log.info('gate closed', { port });
      })();
      return closing;
    },
  };
}

