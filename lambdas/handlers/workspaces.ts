/**
 * The researcher's routes: who am I, open, status, heartbeat, stop. Each reads the request (size, JSON),
 * identifies the caller, validates path and body, calls one use case and answers with the view.
 */
import { authorize, getWorkspace, heartbeat, openWorkspace, stopByUser, type User } from '../core/index.js';
import type { AppDeps } from './app.js';
import { header, json, parseCookies, readJsonBody, route, validate, type HttpEvent, type HttpHandler } from './http.js';
import { emptyBody, stopQuery, workspacePath } from './schemas.js';
import { GateCookies, viewResponse } from './views.js';

/** Reads what every researcher route needs, in order: body (413/400), session (401), then path and body shape (400). */
async function readRequest(deps: AppDeps, event: HttpEvent, withPath: true): Promise<{ user: User; analysisId: string }>;
async function readRequest(deps: AppDeps, event: HttpEvent, withPath: false): Promise<{ user: User }>;
async function readRequest(deps: AppDeps, event: HttpEvent, withPath: boolean) {
  const body = readJsonBody(event);
  const user = await deps.identity.authenticate({ cookies: parseCookies(event), authorization: header(event, 'authorization') });
  const analysisId = withPath ? validate(workspacePath, event.pathParameters ?? {}, 'path').analysisId : undefined;
  validate(emptyBody, body, 'body');
  return { user, analysisId };
}

/** `GET /api/me`: the caller and the analyses they may open. */
export function makeMeHandler(deps: AppDeps): HttpHandler {
  return route(deps.log, async (event) => {
    const { user } = await readRequest(deps, event, false);
    const analyses = await deps.catalog.listFor(user);
    return json(200, {
      user: { userId: user.userId, name: user.name, roles: user.roles },
      analyses: analyses.map(({ analysisId, title, tool }) => ({ analysisId, title, tool })),
    });
  });
}

/** `POST /api/workspaces/{analysisId}/open`: start (or find) the caller's workspace. */
export function makeOpenHandler(deps: AppDeps): HttpHandler {
  const cookies = new GateCookies(deps);
  return route(deps.log, async (event) => {
    const { user, analysisId } = await readRequest(deps, event, true);
    const ws = await openWorkspace(deps, user, analysisId);
    return viewResponse(deps, cookies, ws, deps.clock.now());
  });
}

/**
 * `GET /api/workspaces/{analysisId}`: the poll. One store read; a catalog read only when the gate cookie is
 * signed afresh (membership is checked again then).
 */
export function makeStatusHandler(deps: AppDeps): HttpHandler {
  const cookies = new GateCookies(deps);
  return route(deps.log, async (event) => {
    const { user, analysisId } = await readRequest(deps, event, true);
    const ws = await getWorkspace(deps, user, analysisId);
    return viewResponse(deps, cookies, ws, deps.clock.now(), () => authorize(deps, user, analysisId));
  });
}

/**
 * `POST /api/workspaces/{analysisId}/heartbeat`: the page is visible. One store write, no store read (a
 * catalog read when the gate cookie is signed afresh, as for status); 409 when not running.
 */
export function makeHeartbeatHandler(deps: AppDeps): HttpHandler {
  const cookies = new GateCookies(deps);
  return route(deps.log, async (event) => {
    const { user, analysisId } = await readRequest(deps, event, true);
    const ws = await heartbeat(deps, user, analysisId);
    return viewResponse(deps, cookies, ws, deps.clock.now(), () => authorize(deps, user, analysisId));
  });
}

/**
 * `POST /api/workspaces/{analysisId}/stop[?userId=<owner>]`: stop the caller's workspace; an admin may
 * name another researcher's with `userId`.
 */
export function makeStopHandler(deps: AppDeps): HttpHandler {
  const cookies = new GateCookies(deps);
  return route(deps.log, async (event) => {
    const { user, analysisId } = await readRequest(deps, event, true);
    const query = validate(stopQuery, event.queryStringParameters ?? {}, 'query');
    const ws = await stopByUser(deps, user, { analysisId, userId: query.userId ?? user.userId });
    return viewResponse(deps, cookies, ws, deps.clock.now());
  });
}
