/**
 * What gates send the desk: activity reports, authenticated by the agent token the desk signed for that
 * workspace generation only. Also the helper compute adapters use to mint that token at launch.
 */
import { reportActivity, systemClock, UnauthenticatedError, type Clock, type Workspace } from '../core/index.js';
import { InvalidTokenError, signAgentToken, type JwsSigner } from '../adapters/tokens.js';
import type { AppDeps } from './app.js';
import { header, noContent, readJsonBody, route, validate, type HttpHandler } from './http.js';
import { agentActivityBody } from './schemas.js';

/** Mints agent tokens: what a compute adapter hands the gate it launches (`CARREL_GATE_AGENT_TOKEN`). */
export function agentTokenIssuer(signer: JwsSigner, ttlSeconds: number, clock: Clock = systemClock): (ws: Workspace) => Promise<string> {
  return (ws) =>
    signAgentToken(signer, { analysisId: ws.analysisId, userId: ws.userId, workspaceId: ws.workspaceId, generation: ws.generation }, ttlSeconds, clock.now());
}

/** The agent token for a workspace's current generation, valid for AGENT_TOKEN_TTL_SECONDS. */
export function agentTokenFor(deps: Pick<AppDeps, 'signer' | 'config' | 'clock'>, ws: Workspace): Promise<string> {
  return agentTokenIssuer(deps.signer, deps.config.agentTokenTtlSeconds, deps.clock)(ws);
}

/**
 * `POST /api/agent/activity` with `Authorization: Bearer <agent token>` and `{traffic, busy}` → 204.
 * A report of neither traffic nor a busy tool is not activity: it writes nothing, so an idle workspace
 * still stops. Otherwise one conditional write; 404 when the token's workspace generation is not running.
 */
export function makeAgentActivityHandler(deps: AppDeps): HttpHandler {
  return route(deps.log, async (event) => {
    const body = readJsonBody(event);
    const token = header(event, 'authorization')?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
    if (!token) throw new UnauthenticatedError('An agent token is required (Authorization: Bearer <token>)');
    let agent;
    try {
      agent = await deps.verifier.verifyAgentToken(token, deps.clock.now());
    } catch (error) {
      if (error instanceof InvalidTokenError) throw new UnauthenticatedError(`The agent token was refused: ${error.message.toLowerCase()}`, { cause: error });
      throw error;
    }
    const activity = validate(agentActivityBody, body, 'body');
    if (activity.traffic || activity.busy) await reportActivity(deps, agent);
    return noContent();
  });
}
