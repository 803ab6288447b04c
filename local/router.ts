import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createProxyServer } from 'http-proxy-3';
import type { LocalHttpApi } from './api-gateway.js';
import type { LocalHostnames } from './hostnames.js';

export interface RouterOptions {
  readonly deskDomain: string;
  readonly api: LocalHttpApi;
  readonly site: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  readonly hostnames: LocalHostnames;
}

const page = (title: string, text: string) =>
  `<!doctype html><meta charset="utf-8"><title>${title}</title><style>body{font:16px system-ui;margin:4rem auto;max-width:36rem;color:#222}</style><h1>${title}</h1><p>${text}</p>`;

/**
 * The local network: one port, dispatched by Host like DNS + CloudFront + the load balancer would.
 * `app.localhost` is the desk (API and static site); `ws-<id>.app.localhost` goes to that workspace's
 * gate, found through the local hostnames registry. The router never checks cookies: the gate does.
 */
export function createRouter(options: RouterOptions): Server {
  const proxy = createProxyServer({ ws: true, xfwd: true, proxyTimeout: 0 });
  proxy.on('error', (_error: Error, _req: IncomingMessage, res: ServerResponse | Duplex) => {
    if ('writeHead' in res && !res.headersSent) {
      res.writeHead(502, { 'content-type': 'text/html; charset=utf-8' }).end(page('Workspace not answering', 'The workspace is not answering. Go back to the front desk and open it again.'));
    } else res.destroy();
  });
  const workspaceHost = new RegExp(`^(ws-[a-z0-9]+)\\.${options.deskDomain.replace(/\./g, '\\.')}$`);
  const hostOf = (req: IncomingMessage) => (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();

  const server = createServer(async (req, res) => {
    try {
      const host = hostOf(req);
      if (workspaceHost.test(host)) {
        const address = await options.hostnames.resolve(host);
        if (!address) {
          res.writeHead(404, { 'content-type': 'text/html; charset=utf-8' }).end(page('No workspace here', 'There is no running workspace at this address. Open your analysis from the front desk.'));
          return;
        }
        proxy.web(req, res, { target: `http://${address}` });
        return;
      }
      const path = (req.url ?? '/').split('?')[0];
      if (path.startsWith('/api/') || path.startsWith('/auth/') || path.startsWith('/local-idp/')) return await options.api.handle(req, res);
      await options.site(req, res);
    } catch (error) {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('Internal error');
    }
  });
  server.on('upgrade', async (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const host = hostOf(req);
    const address = workspaceHost.test(host) ? await options.hostnames.resolve(host) : undefined;
    if (!address) {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    proxy.ws(req, socket, head, { target: `http://${address}` });
  });
  return server;
}
