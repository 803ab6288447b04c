/**
 * The front desk's HTTP routes, in one place: CDK builds the API Gateway routes from this table and
 * the local runtime's API stand-in serves the same table with the same handler factories
 * (HTTP_HANDLERS in app.ts). Pure data, so the CDK app imports it without the handlers' code.
 */
export type DeskEntry = 'me' | 'open' | 'status' | 'heartbeat' | 'stop' | 'agent-activity' | 'login' | 'callback' | 'logout' | 'agent-bootstrap';
/** The enclave run routes (handlers/runs.ts). */
export type RunEntry = 'submit-run' | 'list-runs' | 'review-queue' | 'get-run' | 'run-file' | 'decide-run' | 'download-run';

export interface HttpRoute {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  /** The Lambda entry (lambdas/handlers/entry/<entry>.ts) that serves it. */
  readonly entry: DeskEntry | RunEntry;
  /**
   * How the handler authenticates the caller (why the route needs no API Gateway authorizer); `sign-in`: the
   * routes that establish or end the session (the callback trusts only its signed login state and the provider).
   */
  readonly auth: 'session' | 'agent' | 'sign-in' | 'task-identity';
  /** false: served by the local runtime only, not deployed by CDK. (Every route is deployed today.) */
  readonly onAws?: false;
}

export const HTTP_ROUTES: readonly HttpRoute[] = [
  { method: 'GET', path: '/api/me', entry: 'me', auth: 'session' },
  { method: 'POST', path: '/api/workspaces/{analysisId}/open', entry: 'open', auth: 'session' },
  { method: 'GET', path: '/api/workspaces/{analysisId}', entry: 'status', auth: 'session' },
  { method: 'POST', path: '/api/workspaces/{analysisId}/heartbeat', entry: 'heartbeat', auth: 'session' },
  { method: 'POST', path: '/api/workspaces/{analysisId}/stop', entry: 'stop', auth: 'session' },
  { method: 'POST', path: '/api/agent/activity', entry: 'agent-activity', auth: 'agent' },
  { method: 'GET', path: '/auth/login', entry: 'login', auth: 'sign-in' },
  { method: 'GET', path: '/auth/callback', entry: 'callback', auth: 'sign-in' },
  { method: 'POST', path: '/auth/logout', entry: 'logout', auth: 'sign-in' },
  { method: 'POST', path: '/api/agent/bootstrap', entry: 'agent-bootstrap', auth: 'task-identity' },
  { method: 'POST', path: '/api/analyses/{analysisId}/runs', entry: 'submit-run', auth: 'session' },
  { method: 'GET', path: '/api/analyses/{analysisId}/runs', entry: 'list-runs', auth: 'session' },
  { method: 'GET', path: '/api/review/queue', entry: 'review-queue', auth: 'session' },
  { method: 'GET', path: '/api/runs/{runId}', entry: 'get-run', auth: 'session' },
  { method: 'GET', path: '/api/runs/{runId}/files/{path+}', entry: 'run-file', auth: 'session' },
  { method: 'POST', path: '/api/runs/{runId}/decisions', entry: 'decide-run', auth: 'session' },
  { method: 'GET', path: '/api/runs/{runId}/download', entry: 'download-run', auth: 'session' },
];

/** The routes CDK deploys (each entry has its Lambda; the run routes only with `enclave.enabled`). */
export const AWS_HTTP_ROUTES = HTTP_ROUTES.filter((route) => route.onAws !== false);

/** The run routes' entries, which CDK deploys only when the enclave is enabled. */
export const RUN_ENTRIES: readonly RunEntry[] = ['submit-run', 'list-runs', 'review-queue', 'get-run', 'run-file', 'decide-run', 'download-run'];
