/**
 * WorkspaceView JSON (core view + url, serverTime, heartbeatSeconds) and the gate cookie that goes with a
 * ready view. Built from the record alone (no store or cloud call); only signing a fresh gate cookie asks
 * first whether the researcher may still use the analysis (one catalog read, about every half cookie life).
 */
import { DEFAULT_ESTIMATES, describeWorkspace, type Workspace, type WorkspaceView } from '../core/index.js';
import { gateCookieName, signGateCookie } from '../adapters/tokens.js';
import type { AppDeps } from './app.js';
import { json, type HttpResult } from './http.js';

export interface WorkspaceViewJson extends WorkspaceView {
  /** Where the tool answers, once ready. */
  readonly url?: string;
  readonly serverTime: string;
  readonly heartbeatSeconds: number;
}

type ViewDeps = Pick<AppDeps, 'policy' | 'signer' | 'config' | 'clock' | 'estimates'>;

export function workspaceUrl(hostname: string, config: Pick<AppDeps['config'], 'publicUrlScheme' | 'publicPort'>): string {
  return `${config.publicUrlScheme}://${hostname}${config.publicPort ? `:${config.publicPort}` : ''}/`;
}

/**
 * Signs gate cookies, reusing one for the same workspace generation while more than half its life is left,
 * so a researcher's heartbeats do not each cost a signature (a KMS call on AWS).
 */
export class GateCookies {
  private readonly cache = new Map<string, { readonly token: string; readonly expiresAt: number }>();
  constructor(private readonly deps: ViewDeps, private readonly maxEntries = 1000) {}

  /**
   * The Set-Cookie value for a ready workspace, or undefined when it has no hostname yet. `stillAllowed`,
   * when given, runs before a fresh cookie is signed and throws when the researcher may no longer use the
   * analysis: a removed member's cookie is not renewed, so the gate refuses them within one cookie lifetime.
   */
  async setCookieFor(ws: Workspace, now: Date, stillAllowed?: () => Promise<unknown>): Promise<string | undefined> {
    if (!ws.hostname || !ws.hostLabel) return undefined;
    const { config, signer } = this.deps;
    const ttl = config.gateCookieTtlSeconds;
    const key = `${ws.userId}\u0000${ws.workspaceId}\u0000${ws.generation}\u0000${ws.hostname}`;
    let entry = this.cache.get(key);
    if (!entry || entry.expiresAt - now.getTime() < (ttl * 1000) / 2) {
      if (stillAllowed) await stillAllowed();
      const token = await signGateCookie(signer, { userId: ws.userId, workspaceId: ws.workspaceId, generation: ws.generation, hostname: ws.hostname }, ttl, now);
      entry = { token, expiresAt: (Math.floor(now.getTime() / 1000) + ttl) * 1000 };
      this.cache.delete(key);
      this.cache.set(key, entry);
      while (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value as string);
    }
    const maxAge = Math.max(0, Math.floor((entry.expiresAt - now.getTime()) / 1000));
    return [
      `${gateCookieName(ws.hostLabel)}=${entry.token}`,
      `Domain=${config.cookieDomain}`,
      'Path=/',
      'HttpOnly',
      ...(config.cookieSecure ? ['Secure'] : []),
      'SameSite=Lax',
      `Max-Age=${maxAge}`,
    ].join('; ');
  }
}

/**
 * Build the view of a record; when it is ready, add its URL and (re)set the gate cookie (checking
 * `stillAllowed` first when the cookie is signed afresh).
 */
export async function viewResponse(
  deps: ViewDeps,
  cookies: GateCookies,
  ws: Workspace,
  now: Date,
  stillAllowed?: () => Promise<unknown>,
): Promise<HttpResult> {
  const view = describeWorkspace(ws, now, deps.policy, deps.estimates ?? DEFAULT_ESTIMATES);
  const ready = view.state === 'ready' && view.hostname !== undefined;
  const setCookie = ready ? await cookies.setCookieFor(ws, now, stillAllowed) : undefined;
  const body: WorkspaceViewJson = {
    ...view,
    ...(ready ? { url: workspaceUrl(view.hostname as string, deps.config) } : {}),
    serverTime: now.toISOString(),
    heartbeatSeconds: deps.config.heartbeatSeconds,
  };
  return json(200, body, { cookies: setCookie ? [setCookie] : [] });
}
