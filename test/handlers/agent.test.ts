import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LocalKeySigner, signAgentToken, signGateCookie } from '../../lambdas/adapters/tokens.js';
import { agentTokenFor, makeAgentActivityHandler } from '../../lambdas/handlers/app.js';
import type { HttpResult } from '../../lambdas/handlers/http.js';
import { makeWorkspace } from '../support/fakes.js';
import { bodyOf, httpEvent, makeAppDeps, ROUTES, type EventOptions, type TestDeps } from './support.js';

const KEY = { analysisId: 'demo', userId: 'alice' };

async function setup() {
  const deps = await makeAppDeps();
  const ws = makeWorkspace('ready', {}, { at: deps.clock.now() });
  deps.store.seed(ws);
  deps.store.ops.length = 0;
  const token = await agentTokenFor(deps, ws);
  return { deps, ws, token };
}

function report(deps: TestDeps, token: string | undefined, options: EventOptions = {}): Promise<HttpResult> {
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  return makeAgentActivityHandler(deps)(httpEvent(ROUTES.agentActivity, { body: { traffic: true, busy: false }, ...options, headers: { ...headers, ...options.headers } }));
}

function assertRefused(result: HttpResult, status: number, pattern: RegExp) {
  assert.equal(result.statusCode, status, result.body);
  assert.match(bodyOf(result).error.message, pattern);
}

describe('POST /api/agent/activity', () => {
  it('records activity for a valid agent token: 204, one write', async () => {
    // Prepare
    const { deps, token } = await setup();
    const at = deps.clock.advance(120_000);
    // Act
    const result = await report(deps, token);
    // Assess
    assert.equal(result.statusCode, 204);
    assert.equal(result.body, undefined);
    assert.deepEqual(deps.store.ops, ['touch']);
    assert.equal(deps.store.peek(KEY)?.lastActivityAt, at.toISOString());
  });

  it('counts a busy tool as activity', async () => {
    // Prepare
    const { deps, token } = await setup();
    const at = deps.clock.advance(120_000);
    // Act
    const result = await report(deps, token, { body: { traffic: false, busy: true } });
    // Assess
    assert.equal(result.statusCode, 204);
    assert.equal(deps.store.peek(KEY)?.lastActivityAt, at.toISOString());
  });

  it('writes nothing when there was neither traffic nor a busy tool', async () => {
    // Prepare
    const { deps, token, ws } = await setup();
    deps.clock.advance(120_000);
    // Act
    const result = await report(deps, token, { body: { traffic: false, busy: false } });
    // Assess
    assert.equal(result.statusCode, 204);
    assert.deepEqual(deps.store.ops, []);
    assert.equal(deps.store.peek(KEY)?.lastActivityAt, ws.lastActivityAt);
  });

  it('answers 404 for a token of another generation or another workspace', async () => {
    // Prepare
    const { deps, ws } = await setup();
    const before = deps.store.peek(KEY);
    const oldGeneration = await agentTokenFor(deps, { ...ws, generation: ws.generation - 1 });
    const otherWorkspace = await agentTokenFor(deps, { ...ws, workspaceId: 'someoneelse000000000' });
    // Act
    const results = [await report(deps, oldGeneration), await report(deps, otherWorkspace)];
    // Assess
    for (const result of results) assertRefused(result, 404, /No running workspace matches this agent/);
    assert.deepEqual(deps.store.peek(KEY), before);
  });

  const refusals: [string, (deps: TestDeps, ws: ReturnType<typeof makeWorkspace>) => Promise<string | undefined>, RegExp][] = [
    ['no token', async () => undefined, /agent token is required/],
    ['a forged token', async (deps, ws) => signAgentToken(new LocalKeySigner(LocalKeySigner.generatePem(), 'desk-test'), ws, 3600, deps.clock.now()), /refused: token invalid/],
    [
      'an expired token',
      async (deps, ws) => signAgentToken(deps.signer, ws, deps.config.agentTokenTtlSeconds, new Date(deps.clock.now().getTime() - (deps.config.agentTokenTtlSeconds + 60) * 1000)),
      /refused: token expired/,
    ],
    [
      'a gate cookie instead of an agent token',
      async (deps, ws) => signGateCookie(deps.signer, { ...ws, hostname: ws.hostname! }, 900, deps.clock.now()),
      /refused: token not for this audience/,
    ],
    ['garbage', async () => 'garbage', /refused/],
  ];
  for (const [what, mint, pattern] of refusals) {
    it(`answers 401 for ${what}, writing nothing`, async () => {
      // Prepare
      const { deps, ws } = await setup();
      const token = await mint(deps, ws);
      // Act
      const result = await report(deps, token);
      // Assess
      assertRefused(result, 401, pattern);
      assert.equal(bodyOf(result).error.code, 'unauthenticated');
      assert.deepEqual(deps.store.ops, []);
    });
  }

  const badBodies: [string, EventOptions, number, RegExp][] = [
    ['no body', { body: undefined }, 400, /body must be a JSON object \{"traffic": boolean, "busy": boolean\}/],
    ['not JSON', { rawBody: 'traffic=1' }, 400, /not valid JSON/],
    ['an array', { rawBody: '[true, false]' }, 400, /body must be a JSON object/],
    ['a string field', { body: { traffic: 'yes', busy: false } }, 400, /body.traffic must be true or false/],
    ['a missing field', { body: { traffic: true } }, 400, /body.busy must be true or false/],
    ['an extra field', { body: { traffic: true, busy: false, cpu: 0.5 } }, 400, /unexpected field\(s\): cpu/],
    ['an oversized body', { body: { traffic: true, busy: false, pad: 'x'.repeat(20_000) } }, 413, /larger than/],
  ];
  for (const [what, options, status, pattern] of badBodies) {
    it(`answers ${status} for ${what}, writing nothing`, async () => {
      // Prepare
      const { deps, token } = await setup();
      // Act
      const result = await report(deps, token, options);
      // Assess
      assertRefused(result, status, pattern);
      assert.deepEqual(deps.store.ops, []);
    });
  }
});

describe('agentTokenFor', () => {
  it('mints a token the desk verifies back to the workspace generation, valid for AGENT_TOKEN_TTL', async () => {
    // Prepare
    const { deps, ws, token } = await setup();
    // Act
    const claims = await deps.verifier.verifyAgentToken(token, deps.clock.now());
    const payload = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
    // Assess
    assert.deepEqual(claims, { analysisId: 'demo', userId: 'alice', workspaceId: ws.workspaceId, generation: ws.generation });
    assert.equal(payload.exp - payload.iat, 2_592_000);
  });
});
