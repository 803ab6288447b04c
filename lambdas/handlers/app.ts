/**
 * The front desk's handlers, as factories over injected adapters: the Lambda entry points (entry/*.ts,
 * wired by aws-wiring.ts) and the local runtime call the very same code.
 */
import type { StepEstimates, WorkspaceDeps } from '../core/index.js';
import type { Identity } from '../adapters/oidc-identity.js';
import type { OidcRelyingParty } from '../adapters/oidc-client.js';
import type { JwsSigner, TokenVerifier } from '../adapters/tokens.js';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import type { DeskConfig } from './config.js';
import type { HttpRoute } from './routes.js';
import { makeAgentActivityHandler } from './agent.js';
import { makeCallbackHandler, makeLoginHandler, makeLogoutHandler } from './auth.js';
import { makeAgentBootstrapHandler } from './bootstrap.js';
import { makeHeartbeatHandler, makeMeHandler, makeOpenHandler, makeStatusHandler, makeStopHandler } from './workspaces.js';
import type { RunApiDeps } from '../core/runs/index.js';
import { makeDecideRunHandler, makeDownloadRunHandler, makeGetRunHandler, makeListRunsHandler, makeReviewQueueHandler, makeRunFileHandler, makeSubmitRunHandler } from './runs.js';

/** Verifies the agent tokens gates present (a TokenVerifier over the desk's public key). */
export type AgentTokenVerifier = Pick<TokenVerifier, 'verifyAgentToken'>;

export type AppDeps = WorkspaceDeps & {
  readonly identity: Identity;
  /** The identity provider of the sign-in routes (auth.ts); those routes answer 500 without it. */
  readonly oidc?: OidcRelyingParty;
  /** Signs gate cookies and agent tokens (KMS on AWS, a local key otherwise). */
  readonly signer: JwsSigner;
  readonly verifier: AgentTokenVerifier;
  readonly config: DeskConfig;
  /** Seconds each progress step typically takes here (defaults to core's DEFAULT_ESTIMATES). */
  readonly estimates?: StepEstimates;
  /** The enclave runs (routes in runs.ts); without it those routes answer 404. */
  readonly enclave?: RunApiDeps;
};

export { makeHeartbeatHandler, makeMeHandler, makeOpenHandler, makeStatusHandler, makeStopHandler } from './workspaces.js';
export { callbackUrl, isSafeReturnPath, makeCallbackHandler, makeLoginHandler, makeLogoutHandler } from './auth.js';
export { agentTokenFor, agentTokenIssuer, makeAgentActivityHandler } from './agent.js';
export { makeAgentBootstrapHandler } from './bootstrap.js';
export { makeComputeEventsHandler, makeHousekeepingHandler, type ComputeEventsInput } from './events.js';
export { workspaceUrl, type WorkspaceViewJson } from './views.js';
export { runView, type RunViewJson } from './runs.js';

export type HttpHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyResultV2>;

/** The handler factory behind each HTTP route's entry (routes.ts). */
export const HTTP_HANDLERS: Readonly<Record<HttpRoute['entry'], (deps: AppDeps) => HttpHandler>> = {
  me: makeMeHandler,
  open: makeOpenHandler,
  status: makeStatusHandler,
  heartbeat: makeHeartbeatHandler,
  stop: makeStopHandler,
  'agent-activity': makeAgentActivityHandler,
  login: makeLoginHandler,
  callback: makeCallbackHandler,
  logout: makeLogoutHandler,
  'agent-bootstrap': makeAgentBootstrapHandler,
  'submit-run': makeSubmitRunHandler,
  'list-runs': makeListRunsHandler,
  'review-queue': makeReviewQueueHandler,
  'get-run': makeGetRunHandler,
  'run-file': makeRunFileHandler,
  'decide-run': makeDecideRunHandler,
  'download-run': makeDownloadRunHandler,
};
