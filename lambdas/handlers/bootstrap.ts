/**
 * `POST /api/agent/bootstrap`: a Fargate workspace's bootstrap step asks for its own settings, proving which
 * task it is with a signed sts:GetCallerIdentity (lambdas/adapters/aws/sts-task-identity.ts). The answer is
 * that workspace generation's hostname, the desk's public key and a fresh agent token; nothing else, and
 * never another workspace's. See docs/contracts.md, "Fargate bootstrap".
 */
import * as z from 'zod';
import type { BootstrapAnswer } from '../../assets/gate/bootstrap-contract.js';
import { bootstrapWorkspace } from '../core/index.js';
import { agentTokenFor } from './agent.js';
import type { AppDeps } from './app.js';
import { json, readJsonBody, route, validate, type HttpHandler } from './http.js';

/** The signed request, as the bootstrap step built it without sending it. */
export const agentBootstrapBody = z.strictObject({
  request: z.strictObject({
    url: z.string().max(256),
    headers: z.record(z.string().max(64), z.string().max(4096)).refine((h) => Object.keys(h).length <= 16, 'must have at most 16 headers'),
    body: z.string().max(256),
  }),
});

export function makeAgentBootstrapHandler(deps: AppDeps): HttpHandler {
  return route(deps.log, async (event) => {
    const { request } = validate(agentBootstrapBody, readJsonBody(event), 'body');
    const { workspace, hostname, hostLabel } = await bootstrapWorkspace(deps, request);
    const answer: BootstrapAnswer = {
      CARREL_GATE_HOSTNAME: hostname,
      CARREL_GATE_HOST_LABEL: hostLabel,
      CARREL_GATE_PUBLIC_KEY: await deps.signer.publicKeyPem(),
      CARREL_GATE_AGENT_TOKEN: await agentTokenFor(deps, workspace),
    };
    return json(200, answer);
  });
}
