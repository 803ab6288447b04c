import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gateCookieName, LocalKeySigner, TokenVerifier } from '../../lambdas/adapters/tokens.js';
import {
  makeHeartbeatHandler,
  makeMeHandler,
  makeOpenHandler,
  makeStatusHandler,
  makeStopHandler,
  type AppDeps,
} from '../../lambdas/handlers/app.js';
import type { HttpHandler, HttpResult } from '../../lambdas/handlers/http.js';
import type { User } from '../../lambdas/core/index.js';
import { makeWorkspace, openToReady, users } from '../support/fakes.js';
import { bodyOf, httpEvent, makeAppDeps, parseSetCookie, ROUTES, sessionCookie, TestIdp, type EventOptions, type TestDeps } from './support.js';

type RouteName = 'me' | 'open' | 'status' | 'heartbeat' | 'stop';

const FACTORIES: Record<RouteName, (deps: AppDeps) => HttpHandler> = {
  me: makeMeHandler,
  open: makeOpenHandler,
  status: makeStatusHandler,
  heartbeat: makeHeartbeatHandler,
  stop: makeStopHandler,
};

/** Call a route as alice (unless `as` says otherwise) on analysis `demo` (unless overridden). */
async function call(deps: TestDeps, name: RouteName, options: EventOptions & { as?: string | null; analysisId?: string } = {}): Promise<HttpResult> {
  const session = sessionCookie(await deps.idp.session(options.as ?? 'alice', { now: deps.clock.now() }), deps.config.sessionCookie);
  const cookies = options.as === null ? options.cookies : [...(options.cookies ?? []), session];
  const event = httpEvent(ROUTES[name], {
    ...options,
    cookies,
    pathParameters: name === 'me' ? options.pathParameters : { analysisId: options.analysisId ?? 'demo', ...options.pathParameters },
  });
  return FACTORIES[name](deps)(event);
}

function assertError(result: HttpResult, status: number, code: string, messagePattern?: RegExp) {
  const body = bodyOf(result);
  assert.equal(result.statusCode, status, `expected ${status}, got ${result.statusCode}: ${result.body}`);
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 10, 'the error says what was wrong');
  if (messagePattern) assert.match(body.error.message, messagePattern);
}

/** Nothing reached the store: no read, no write, no record. */
function assertStoreUntouched(deps: TestDeps) {
  assert.deepEqual(deps.store.ops, []);
  assert.equal(deps.store.size, 0);
  assert.equal(deps.compute.launchCount, 0);
}

const ROUTE_NAMES = Object.keys(FACTORIES) as RouteName[];
const WITH_PATH: RouteName[] = ['open', 'status', 'heartbeat', 'stop'];

describe('researcher routes refuse bad requests with a message and write nothing', () => {
  for (const name of WITH_PATH) {
    for (const analysisId of ['Demo', '-demo', '../demo', 'demo/x', 'a'.repeat(64), 'démo', '']) {
      it(`${name}: analysisId ${JSON.stringify(analysisId)} → 400`, async () => {
        // Prepare
        const deps = await makeAppDeps();
        // Act
        const result = await call(deps, name, { analysisId });
        // Assess
        assertError(result, 400, 'invalid_request', /analysisId/);
        assert.ok(bodyOf(result).error.issues.some((issue: string) => issue.startsWith('path.analysisId')));
        assertStoreUntouched(deps);
      });
    }
  }

  for (const name of ROUTE_NAMES) {
    it(`${name}: body that is not JSON → 400`, async () => {
      // Prepare
      const deps = await makeAppDeps();
      // Act
      const result = await call(deps, name, { rawBody: '{"oops":', headers: { 'content-type': 'application/json' } });
      // Assess
      assertError(result, 400, 'invalid_request', /not valid JSON/);
      assertStoreUntouched(deps);
    });

    for (const raw of ['[]', '"open"', '42', 'null', 'true']) {
      it(`${name}: non-object body ${raw} → 400`, async () => {
        // Prepare
        const deps = await makeAppDeps();
        // Act
        const result = await call(deps, name, { rawBody: raw });
        // Assess
        assertError(result, 400, 'invalid_request', /body must be empty or the JSON object \{\}/);
        assertStoreUntouched(deps);
      });
    }

    it(`${name}: extra fields → 400 naming them`, async () => {
      // Prepare
      const deps = await makeAppDeps();
      // Act
      const result = await call(deps, name, { body: { force: true, userId: 'bob' } });
      // Assess
      assertError(result, 400, 'invalid_request', /unexpected field\(s\): force, userId/);
      assertStoreUntouched(deps);
    });

    it(`${name}: body over 16 KiB → 413`, async () => {
      // Prepare
      const deps = await makeAppDeps();
      // Act
      const result = await call(deps, name, { body: { padding: 'x'.repeat(17 * 1024) } });
      // Assess
      assertError(result, 413, 'invalid_request', /larger than the 16 KiB/);
      assertStoreUntouched(deps);
    });

    it(`${name}: base64 body over 16 KiB → 413`, async () => {
      // Prepare
      const deps = await makeAppDeps();
      // Act
      const result = await call(deps, name, { rawBody: Buffer.from(JSON.stringify({ p: 'x'.repeat(17 * 1024) })).toString('base64'), isBase64Encoded: true });
      // Assess
      assertError(result, 413, 'invalid_request');
      assertStoreUntouched(deps);
    });

    it(`${name}: no session → 401`, async () => {
      // Prepare
      const deps = await makeAppDeps();
      // Act
      const result = await call(deps, name, { as: null });
      // Assess
      assertError(result, 401, 'unauthenticated', /not signed in/);
      assertStoreUntouched(deps);
    });

    it(`${name}: session signed by another key → 401`, async () => {
      // Prepare
      const deps = await makeAppDeps();
      const forger = await TestIdp.create(deps.idp.kid);
      const forged = await forger.session('alice', { now: deps.clock.now() });
      // Act
      const result = await call(deps, name, { as: null, cookies: [sessionCookie(forged)] });
      // Assess
      assertError(result, 401, 'unauthenticated', /not valid/);
      assertStoreUntouched(deps);
    });

    it(`${name}: expired session → 401`, async () => {
      // Prepare
      const deps = await makeAppDeps();
      const hourAgo = new Date(deps.clock.now().getTime() - 2 * 3_600_000);
      const expired = await deps.idp.session('alice', { now: hourAgo });
      // Act
      const result = await call(deps, name, { as: null, cookies: [sessionCookie(expired)] });
      // Assess
      assertError(result, 401, 'unauthenticated', /expired/);
      assertStoreUntouched(deps);
    });

    for (const [claim, value] of [
      ['aud', 'some-other-app'],
      ['iss', 'https://evil.test/'],
    ] as const) {
      it(`${name}: session with the wrong ${claim} → 401`, async () => {
        // Prepare
        const deps = await makeAppDeps();
        const token = await deps.idp.session('alice', { now: deps.clock.now(), claims: { [claim]: value } });
        // Act
        const result = await call(deps, name, { as: null, cookies: [sessionCookie(token)] });
        // Assess
        assertError(result, 401, 'unauthenticated', new RegExp(`not valid for this desk \\(${claim} claim\\)`));
        assertStoreUntouched(deps);
      });
    }

    it(`${name}: garbage in the session cookie → 401`, async () => {
      // Prepare
      const deps = await makeAppDeps();
      // Act
      const result = await call(deps, name, { as: null, cookies: ['__Host-carrel_session=not.a.jwt'] });
      // Assess
      assertError(result, 401, 'unauthenticated');
      assertStoreUntouched(deps);
    });
  }

  it('every error response carries the security headers', async () => {
    // Prepare
    const deps = await makeAppDeps();
    // Act
    const result = await call(deps, 'open', { as: null });
    // Assess
    assert.equal(result.headers?.['cache-control'], 'no-store');
    assert.equal(result.headers?.['x-content-type-options'], 'nosniff');
    assert.match(String(result.headers?.['content-type']), /^application\/json/);
  });
});

describe('GET /api/me', () => {
  it('returns the user from the session and the analyses they may open', async () => {
    // Prepare
    const deps = await makeAppDeps();
    const token = await deps.idp.session('bob', { now: deps.clock.now(), name: 'Bob B.', groups: 'researcher admin' });
    // Act
    const result = await call(deps, 'me', { as: null, headers: { cookie: `theme=dark; __Host-carrel_session=${token}` } });
    // Assess
    assert.equal(result.statusCode, 200);
    assert.deepEqual(bodyOf(result), {
      user: { userId: 'bob', name: 'Bob B.', roles: ['researcher', 'admin'] },
      analyses: [
        { analysisId: 'demo', title: 'Demo analysis', tool: 'jupyter' },
        { analysisId: 'census-2021', title: 'Census 2021', tool: 'jupyter' },
      ],
    });
  });

  it('accepts the session as a Bearer token', async () => {
    // Prepare
    const deps = await makeAppDeps();
    const token = await deps.idp.session('alice', { now: deps.clock.now() });
    // Act
    const result = await call(deps, 'me', { as: null, headers: { Authorization: `Bearer ${token}` } });
    // Assess
    assert.equal(result.statusCode, 200);
    assert.equal(bodyOf(result).user.userId, 'alice');
  });
});

describe('POST /api/workspaces/{analysisId}/open', () => {
  it('opens a workspace and answers with its view', async () => {
    // Prepare
    const deps = await makeAppDeps();
    // Act
    const result = await call(deps, 'open');
    // Assess
    assert.equal(result.statusCode, 200);
    const view = bodyOf(result);
    assert.equal(view.analysisId, 'demo');
    assert.equal(view.state, 'starting');
    assert.deepEqual(
      view.steps.map((s: { label: string; status: string }) => [s.label, s.status]),
      [
        ['Reserving', 'active'],
        ['Starting Jupyter', 'pending'],
        ['Connecting', 'pending'],
      ],
    );
    assert.equal(view.serverTime, deps.clock.iso());
    assert.equal(view.heartbeatSeconds, 60);
    assert.ok(view.estimatedSecondsLeft > 0);
    assert.equal(view.url, undefined);
    assert.equal(result.cookies, undefined, 'no gate cookie before ready');
    assert.equal(deps.compute.launchCount, 1);
  });

  it('accepts an empty JSON object as the body', async () => {
    // Prepare
    const deps = await makeAppDeps();
    // Act
    const result = await call(deps, 'open', { body: {} });
    // Assess
    assert.equal(result.statusCode, 200);
  });

  it('refuses an analysis the user is not a member of with 403, writing nothing', async () => {
    // Prepare
    const deps = await makeAppDeps();
    // Act
    const result = await call(deps, 'open', { analysisId: 'census-2021' });
    // Assess
    assertError(result, 403, 'not_allowed', /not a researcher on analysis "census-2021"/);
    assert.equal(deps.store.writes, 0);
    assert.equal(deps.store.size, 0);
  });

  it('answers 404 for an analysis that does not exist', async () => {
    // Prepare
    const deps = await makeAppDeps();
    // Act
    const result = await call(deps, 'open', { analysisId: 'nope' });
    // Assess
    assertError(result, 404, 'not_found');
    assert.equal(deps.store.size, 0);
  });

  it('sets the gate cookie when the workspace is already ready', async () => {
    // Prepare
    const deps = await makeAppDeps();
    await openToReady(deps, users.alice, 'demo');
    // Act
    const result = await call(deps, 'open');
    // Assess
    assert.equal(result.statusCode, 200);
    assert.equal(bodyOf(result).state, 'ready');
    assert.equal(result.cookies?.length, 1);
  });
});

describe('GET /api/workspaces/{analysisId}', () => {
  it('answers 404 before the workspace is opened', async () => {
    // Prepare
    const deps = await makeAppDeps();
    // Act
    const result = await call(deps, 'status');
    // Assess
    assertError(result, 404, 'not_found', /no workspace for analysis "demo"/);
  });

  it('costs one store read, and a catalog read only when the gate cookie is signed afresh', async () => {
    // Prepare
    const deps = await makeAppDeps();
    await openToReady(deps, users.alice, 'demo');
    let catalogReads = 0;
    const catalog = { get: (id: string, user: User) => (catalogReads++, deps.catalog.get(id, user)), listFor: async () => (catalogReads++, []) };
    const status = makeStatusHandler({ ...deps, catalog });
    const poll = async () => status(httpEvent(ROUTES.status, { pathParameters: { analysisId: 'demo' }, cookies: [sessionCookie(await deps.idp.session('alice', { now: deps.clock.now() }))] }));
    // Act: the first poll signs a cookie; the next ones within half its life reuse it
    deps.store.ops.length = 0;
    const first = await poll();
    const afterFirst = { store: [...deps.store.ops], catalog: catalogReads };
    deps.store.ops.length = 0;
    deps.clock.advance(60_000);
    const second = await poll();
    // Assess
    assert.equal(first.statusCode, 200);
    assert.equal(second.statusCode, 200);
    assert.deepEqual(afterFirst, { store: ['get'], catalog: 1 });
    assert.deepEqual(deps.store.ops, ['get']);
    assert.equal(catalogReads, 1, 'no catalog read while the cookie is fresh');
    assert.equal(second.cookies?.length, 1);
  });

  it('renews no gate cookie for a researcher removed from the analysis: 403 with the reason', async () => {
    // Prepare
    const deps = await makeAppDeps();
    await openToReady(deps, users.alice, 'demo');
    const status = makeStatusHandler(deps);
    const heartbeatHandler = makeHeartbeatHandler(deps);
    const event = async (route: string) => httpEvent(route, { pathParameters: { analysisId: 'demo' }, cookies: [sessionCookie(await deps.idp.session('alice', { now: deps.clock.now() }))] });
    const fresh = await status(await event(ROUTES.status));
    const demo = deps.catalog.analyses.find((a) => a.analysisId === 'demo')!;
    (demo.members as string[]).splice(demo.members.indexOf('alice'), 1);
    // Act: past half the cookie's life, both the poll and the heartbeat would sign a new one
    deps.clock.advance((deps.config.gateCookieTtlSeconds * 1000) / 2 + 1_000);
    const polled = await status(await event(ROUTES.status));
    const beat = await heartbeatHandler(await event(ROUTES.heartbeat));
    // Assess
    assert.equal(fresh.cookies?.length, 1);
    for (const result of [polled, beat]) {
      assertError(result, 403, 'not_allowed', /not a researcher on analysis "demo"/);
      assert.equal(result.cookies, undefined);
    }
  });

  it('when ready, gives the URL and sets a gate cookie that verifies for that hostname only', async () => {
    // Prepare
    const deps = await makeAppDeps();
    const ready = await openToReady(deps, users.alice, 'demo');
    deps.clock.advance(5_000);
    // Act
    const result = await call(deps, 'status');
    // Assess
    const view = bodyOf(result);
    assert.equal(result.statusCode, 200);
    assert.equal(view.state, 'ready');
    assert.equal(view.hostname, ready.hostname);
    assert.equal(view.url, `https://${ready.hostname}/`);
    assert.equal(result.cookies?.length, 1);
    const cookie = parseSetCookie(result.cookies![0]);
    assert.equal(cookie.name, gateCookieName(ready.hostLabel!));
    assert.equal(cookie.name, `carrel_gate_${ready.hostLabel}`);
    assert.deepEqual(cookie.attributes, { domain: 'app.test', path: '/', httponly: true, secure: true, samesite: 'Lax', 'max-age': '900' });
    const claims = await deps.verifier.verifyGateCookie(cookie.value, ready.hostname!, deps.clock.now());
    assert.deepEqual(claims, { userId: 'alice', workspaceId: ready.workspaceId, generation: ready.generation, hostname: ready.hostname });
    await assert.rejects(deps.verifier.verifyGateCookie(cookie.value, 'ws-someoneelse.app.test', deps.clock.now()));
  });

  it('omits Secure when COOKIE_SECURE=false and adds the public port to the URL', async () => {
    // Prepare
    const deps = await makeAppDeps({ env: { COOKIE_SECURE: 'false', PUBLIC_URL_SCHEME: 'http', PUBLIC_PORT: '8080' } });
    const ready = await openToReady(deps, users.alice, 'demo');
    // Act
    const result = await call(deps, 'status');
    // Assess
    assert.equal(bodyOf(result).url, `http://${ready.hostname}:8080/`);
    assert.equal(parseSetCookie(result.cookies![0]).attributes.secure, undefined);
  });

  it('shows a failed workspace with its reason and no cookie', async () => {
    // Prepare
    const deps = await makeAppDeps();
    deps.store.seed(makeWorkspace('failed', { reason: 'Jupyter did not start' }));
    // Act
    const result = await call(deps, 'status');
    // Assess
    assert.equal(result.statusCode, 200);
    assert.equal(bodyOf(result).reason, 'Jupyter did not start');
    assert.equal(result.cookies, undefined);
  });
});

describe('POST /api/workspaces/{analysisId}/heartbeat', () => {
  it('costs exactly one store write and no read, and refreshes the gate cookie', async () => {
    // Prepare
    const deps = await makeAppDeps();
    await openToReady(deps, users.alice, 'demo');
    deps.store.ops.length = 0;
    const at = deps.clock.advance(600_000);
    // Act
    const result = await call(deps, 'heartbeat');
    // Assess
    assert.equal(result.statusCode, 200);
    assert.deepEqual(deps.store.ops, ['touch']);
    assert.equal(deps.store.peek({ analysisId: 'demo', userId: 'alice' })?.lastActivityAt, at.toISOString());
    assert.equal(bodyOf(result).idle.stopAt, new Date(at.getTime() + deps.policy.idleTimeoutMs).toISOString());
    assert.equal(result.cookies?.length, 1);
  });

  it('answers 409 when the workspace is not running', async () => {
    // Prepare
    const deps = await makeAppDeps();
    await call(deps, 'open');
    // Act
    const result = await call(deps, 'heartbeat');
    // Assess
    assertError(result, 409, 'conflict', /not running/);
  });

  it('answers 409 when there is no workspace, creating none', async () => {
    // Prepare
    const deps = await makeAppDeps();
    // Act
    const result = await call(deps, 'heartbeat');
    // Assess
    assertError(result, 409, 'conflict');
    assert.equal(deps.store.size, 0);
  });
});

describe('POST /api/workspaces/{analysisId}/stop', () => {
  it('stops the caller’s own workspace', async () => {
    // Prepare
    const deps = await makeAppDeps();
    const ready = await openToReady(deps, users.alice, 'demo');
    // Act
    const result = await call(deps, 'stop');
    // Assess
    assert.equal(result.statusCode, 200);
    assert.equal(bodyOf(result).state, 'stopping');
    assert.deepEqual(deps.compute.idsOf('stop'), [ready.instanceId]);
    assert.equal(result.cookies, undefined);
  });

  it('refuses a researcher stopping someone else’s workspace with 403', async () => {
    // Prepare
    const deps = await makeAppDeps();
    await openToReady(deps, users.alice, 'demo');
    const before = deps.store.peek({ analysisId: 'demo', userId: 'alice' });
    // Act
    const result = await call(deps, 'stop', { as: 'bob', query: { userId: 'alice' } });
    // Assess
    assertError(result, 403, 'not_allowed', /owner or an admin/);
    assert.deepEqual(deps.store.peek({ analysisId: 'demo', userId: 'alice' }), before);
    assert.deepEqual(deps.compute.idsOf('stop'), []);
  });

  it('lets an admin stop another researcher’s workspace', async () => {
    // Prepare
    const deps = await makeAppDeps();
    await openToReady(deps, users.alice, 'demo');
    const token = await deps.idp.session('pat', { now: deps.clock.now(), groups: ['admin'] });
    // Act
    const result = await call(deps, 'stop', { as: null, cookies: [sessionCookie(token)], query: { userId: 'alice' } });
    // Assess
    assert.equal(result.statusCode, 200);
    assert.equal(deps.store.peek({ analysisId: 'demo', userId: 'alice' })?.state, 'stopping');
  });

  it('refuses a malformed or unknown query parameter with 400', async () => {
    // Prepare
    const deps = await makeAppDeps();
    // Act
    const malformed = await call(deps, 'stop', { query: { userId: 'alice bob' } });
    const unknown = await call(deps, 'stop', { query: { force: '1' } });
    // Assess
    assertError(malformed, 400, 'invalid_request', /query.userId must be/);
    assertError(unknown, 400, 'invalid_request', /unexpected parameter\(s\): force/);
    assertStoreUntouched(deps);
  });

  it('answers 404 when there is no workspace to stop', async () => {
    // Prepare
    const deps = await makeAppDeps();
    // Act
    const result = await call(deps, 'stop');
    // Assess
    assertError(result, 404, 'not_found');
    assert.equal(deps.store.writes, 0);
  });
});

describe('gate cookie signing', () => {
  it('reuses a fresh cookie across heartbeats and signs anew past half its life', async () => {
    // Prepare
    const deps = await makeAppDeps();
    await openToReady(deps, users.alice, 'demo');
    let signatures = 0;
    const signer = new LocalKeySigner(LocalKeySigner.generatePem(), 'counting');
    const counting = { keyId: signer.keyId, publicKeyPem: () => signer.publicKeyPem(), sign: (data: Uint8Array) => (signatures++, signer.sign(data)) };
    const handler = makeHeartbeatHandler({ ...deps, signer: counting });
    const event = async () =>
      httpEvent(ROUTES.heartbeat, { pathParameters: { analysisId: 'demo' }, cookies: [sessionCookie(await deps.idp.session('alice', { now: deps.clock.now() }))] });
    // Act
    const first = await handler(await event());
    deps.clock.advance(60_000);
    const second = await handler(await event());
    deps.clock.advance(400_000);
    const third = await handler(await event());
    // Assess
    assert.equal(signatures, 2);
    assert.equal(parseSetCookie(first.cookies![0]).value, parseSetCookie(second.cookies![0]).value);
    assert.equal(parseSetCookie(second.cookies![0]).attributes['max-age'], '840');
    assert.equal(parseSetCookie(third.cookies![0]).attributes['max-age'], '900');
    const verifier = await TokenVerifier.fromPem(await signer.publicKeyPem());
    const hostname = deps.store.peek({ analysisId: 'demo', userId: 'alice' })!.hostname!;
    await verifier.verifyGateCookie(parseSetCookie(second.cookies![0]).value, hostname, deps.clock.now());
  });
});
