import type { MeResponse, WorkspaceViewJson } from './types.js';
import type { DecisionResultJson, FileSource, FileViewJson, OutboxMessageJson, QueueJson, RunDetailJson, RunViewJson, Verdict } from './runs-types.js';

/** A successful answer, with when it was asked and received (for the clock skew). */
export interface ApiOk<T> {
  readonly ok: true;
  readonly status: number;
  readonly data: T;
  readonly sentAt: number;
  readonly receivedAt: number;
}

/** A refused or failed request. `status` 0 means the server was not reached. */
export interface ApiFailure {
  readonly ok: false;
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

export type ApiResult<T> = ApiOk<T> | ApiFailure;

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

const NETWORK_MESSAGE = 'Could not reach carrel. Check your connection; the page keeps trying.';

/**
 * One request to the desk API (same origin, session cookie). Never throws: network failures and error
 * answers come back as an ApiFailure carrying the API's own message.
 */
export async function callApi<T>(
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  fetchImpl: FetchLike = (input, init) => fetch(input, init),
  now: () => number = Date.now,
): Promise<ApiResult<T>> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const sentAt = now();
  let response: Response;
  try {
    response = await fetchImpl(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    return { ok: false, status: 0, code: 'network', message: NETWORK_MESSAGE };
  }
  const receivedAt = now();
  const text = await response.text().catch(() => '');
  let json: unknown;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  if (response.ok) return { ok: true, status: response.status, data: json as T, sentAt, receivedAt };
  // The API answers { error: { code, message } }; the gateway itself (413, unknown route) answers { message }.
  const parsed = json as { error?: { code?: unknown; message?: unknown }; message?: unknown } | undefined;
  const error = parsed?.error;
  const message = typeof error?.message === 'string' ? error.message : parsed?.message;
  return {
    ok: false,
    status: response.status,
    code: typeof error?.code === 'string' ? error.code : `http_${response.status}`,
    message: typeof message === 'string' && message ? message : defaultMessage(response.status),
  };
}

function defaultMessage(status: number): string {
  if (status === 401) return 'Please sign in.';
  if (status === 403) return 'You are not allowed to do this.';
  if (status === 404) return 'Not found.';
  if (status >= 500) return 'carrel had a problem answering. The page keeps trying.';
  return `The request was refused (HTTP ${status}).`;
}

/** The workspace calls the desk page makes, by analysis. */
export interface WorkspaceApi {
  status(analysisId: string): Promise<ApiResult<WorkspaceViewJson>>;
  open(analysisId: string): Promise<ApiResult<WorkspaceViewJson>>;
  heartbeat(analysisId: string): Promise<ApiResult<WorkspaceViewJson>>;
  stop(analysisId: string): Promise<ApiResult<WorkspaceViewJson>>;
}

function workspaceUrl(analysisId: string, action?: string): string {
  return `/api/workspaces/${encodeURIComponent(analysisId)}${action ? `/${action}` : ''}`;
}

export const workspaceApi: WorkspaceApi = {
  status: (id) => callApi('GET', workspaceUrl(id)),
  open: (id) => callApi('POST', workspaceUrl(id, 'open')),
  heartbeat: (id) => callApi('POST', workspaceUrl(id, 'heartbeat')),
  stop: (id) => callApi('POST', workspaceUrl(id, 'stop')),
};

export const getMe = (): Promise<ApiResult<MeResponse>> => callApi('GET', '/api/me');
/** Local mode's identity provider: sign in as `username` for the pending request; answers where to go next. */
export const signIn = (request: string, username: string): Promise<ApiResult<{ redirect: string }>> =>
  callApi('POST', '/local-idp/sign-in', { request, username });
/** Ends the desk session; answers where to go next (the identity provider's sign-out, or the desk). */
export const signOut = (): Promise<ApiResult<{ redirect: string }>> => callApi('POST', '/auth/logout');

/** The enclave runs calls (docs/contracts.md, "Enclave runs: the desk's API"). */
export interface RunsApi {
  submit(analysisId: string, description: string): Promise<ApiResult<RunViewJson>>;
  list(analysisId: string): Promise<ApiResult<{ runs: RunViewJson[] }>>;
  queue(): Promise<ApiResult<QueueJson>>;
  detail(id: string): Promise<ApiResult<RunDetailJson>>;
  file(id: string, path: string, from: FileSource, diff?: boolean): Promise<ApiResult<FileViewJson>>;
  decide(id: string, body: { verdict: Verdict; comment: string; manifestDigest: string }): Promise<ApiResult<DecisionResultJson>>;
  outbox(): Promise<ApiResult<{ messages: OutboxMessageJson[] }>>;
}

/** A file path inside a run as the route's `{path+}`: each segment encoded, slashes kept. */
export function runFilePath(id: string, path: string, from: FileSource, diff = false): string {
  const encoded = path.split('/').map(encodeURIComponent).join('/');
  return `/api/runs/${encodeURIComponent(id)}/files/${encoded}?from=${from}${diff ? '&diff=true' : ''}`;
}

export function createRunsApi(fetchImpl?: FetchLike): RunsApi {
  return {
    submit: (analysisId, description) => callApi('POST', `/api/analyses/${encodeURIComponent(analysisId)}/runs`, { description }, fetchImpl),
    list: (analysisId) => callApi('GET', `/api/analyses/${encodeURIComponent(analysisId)}/runs`, undefined, fetchImpl),
    queue: () => callApi('GET', '/api/review/queue', undefined, fetchImpl),
    detail: (id) => callApi('GET', `/api/runs/${encodeURIComponent(id)}`, undefined, fetchImpl),
    file: (id, path, from, diff) => callApi('GET', runFilePath(id, path, from, diff), undefined, fetchImpl),
    decide: (id, body) => callApi('POST', `/api/runs/${encodeURIComponent(id)}/decisions`, body, fetchImpl),
    outbox: () => callApi('GET', '/api/outbox', undefined, fetchImpl),
  };
}

export const runsApi: RunsApi = createRunsApi();
