/**
 * The sign-in handlers against an OpenID Connect provider over real HTTP (oidc-test-idp.ts): the happy path
 * from /auth/login to a session the desk's one session verifier accepts, and every way it must fail without
 * setting a session.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { OidcClient } from '../../lambdas/adapters/oidc-client.js';
import { deskSessionIdentity } from '../../lambdas/adapters/oidc-identity.js';
import { LocalKeySigner, signJwt } from '../../lambdas/adapters/tokens.js';
import { makeCallbackHandler, makeLoginHandler, makeLogoutHandler } from '../../lambdas/handlers/app.js';
import type { HttpResult } from '../../lambdas/handlers/http.js';
import { freePort } from '../../local/processes.js';
import { httpEvent, makeAppDeps, parseSetCookie, type TestDeps } from './support.js';
import { HttpTestIdp } from './oidc-test-idp.js';

const CLIENT_ID = 'carrel-desk';
const CALLBACK = 'https://app.test/auth/callback';

type Deps = TestDeps & { oidc: OidcClient };

async function depsFor(idp: HttpTestIdp, options: { secret?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Deps> {
  const deps = await makeAppDeps({ env: { OIDC_ISSUER: idp.issuer, OIDC_CLIENT_ID: CLIENT_ID, SESSION_TTL_SECONDS: '3600', ...options.env } });
  const oidc = new OidcClient({
    issuer: deps.config.oidc.issuer,
    clientId: deps.config.oidc.clientId,
    clientSecret: options.secret ? async () => options.secret : undefined,
    scopes: deps.config.oidc.scopes,
    rolesClaim: deps.config.oidc.rolesClaim,
    clock: deps.clock,
    timeoutMs: options.timeoutMs ?? 1_000,
  });
  return Object.assign(deps, { oidc });
}

function cookiesOf(result: HttpResult) {
  return (result.cookies ?? []).map(parseSetCookie);
}

/** Runs /auth/login and the provider's sign-in: what the browser brings back to the callback. */
async function startSignIn(deps: Deps, idp: HttpTestIdp, returnTo = '/a/demo', sub = 'alice') {
  const login = await makeLoginHandler(deps)(httpEvent('GET /auth/login', { query: { returnTo } }));
  assert.equal(login.statusCode, 302, login.body);
  const stateCookie = cookiesOf(login)[0];
  const authorizationUrl = String(login.headers?.location);
  const query = idp.approve(authorizationUrl, sub);
  return { login, stateCookie, authorizationUrl, query, cookie: `${stateCookie.name}=${stateCookie.value}` };
}

function callback(deps: Deps, query: Record<string, string>, cookies: string[]) {
  return makeCallbackHandler(deps)(httpEvent('GET /auth/callback', { query, cookies }));
}

/** Assess: a refusal, answered as a page, with no session among its cookies. */
function assertRefused(result: HttpResult, status: number, message: RegExp) {
  assert.equal(result.statusCode, status, result.body);
  assert.match(String(result.headers?.['content-type']), /text\/html/);
  assert.match(String(result.body), message);
  assert.ok(!cookiesOf(result).some((c) => c.name === '__Host-carrel_session' && c.value !== ''), 'no session may be set');
  assert.ok(!cookiesOf(result).some((c) => c.attributes['max-age'] !== '0'), 'only clearing cookies may be sent');
}

describe('sign-in: GET /auth/login and GET /auth/callback', () => {
  let idp: HttpTestIdp;
  let deps: Deps;

  before(async () => {
    idp = await HttpTestIdp.start(() => new Date());
  });
  after(() => idp.close());
  beforeEach(async () => {
    for (const key of Object.keys(idp.knobs)) delete idp.knobs[key as keyof typeof idp.knobs];
    idp.tokenRequests.length = 0;
    deps = await depsFor(idp, { secret: 'shh: a secret/with+symbols' });
    // The provider dates its tokens on the desk's (fake) clock.
    Object.assign(idp, { now: () => deps.clock.now() });
  });

  it('redirects to the provider with code flow, PKCE S256, state and nonce, and sets a signed, short-lived state cookie', async () => {
    // Act
    const { login, stateCookie, authorizationUrl } = await startSignIn(deps, idp);
    // Assess
    const url = new URL(authorizationUrl);
    assert.equal(`${url.origin}${url.pathname}`, `${idp.issuer}/authorize`);
    const p = Object.fromEntries(url.searchParams);
    assert.equal(p.response_type, 'code');
    assert.equal(p.client_id, CLIENT_ID);
    assert.equal(p.redirect_uri, CALLBACK);
    assert.equal(p.code_challenge_method, 'S256');
    assert.match(p.code_challenge, /^[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(p.scope.split(' ').sort(), ['openid', 'profile']);
    assert.ok(p.state.length >= 22 && p.nonce.length >= 22 && p.state !== p.nonce);
    assert.equal(login.cookies?.length, 1);
    assert.ok(stateCookie.name.startsWith('__Host-carrel_login_'), stateCookie.name);
    assert.equal(stateCookie.attributes.httponly, true);
    assert.equal(stateCookie.attributes.secure, true);
    assert.equal(stateCookie.attributes.samesite, 'Lax');
    assert.equal(stateCookie.attributes.path, '/');
    assert.equal(stateCookie.attributes['max-age'], '600');
    assert.equal(stateCookie.attributes.domain, undefined);
    // The verifier behind the challenge travels only in the signed cookie, never to the provider's front channel.
    const claims = decodeJwt(stateCookie.value);
    assert.equal(createHash('sha256').update(String(claims.cv)).digest('base64url'), p.code_challenge);
    assert.equal(claims.st, p.state);
    assert.equal(claims.nn, p.nonce);
    assert.equal(claims.rt, '/a/demo');
    assert.ok(!authorizationUrl.includes(String(claims.cv)));
  });

  it('happy path: exchanges the code with the secret and the PKCE verifier, sets the desk session and returns to returnTo', async () => {
    // Prepare
    const { query, cookie } = await startSignIn(deps, idp);
    // Act
    const result = await callback(deps, query, [cookie]);
    // Assess: back where the user started, with a session the desk's one verifier accepts
    assert.equal(result.statusCode, 302, result.body);
    assert.equal(result.headers?.location, '/a/demo');
    const [session, clearedState] = cookiesOf(result);
    assert.equal(session.name, '__Host-carrel_session');
    assert.equal(session.attributes.httponly, true);
    assert.equal(session.attributes.secure, true);
    assert.equal(session.attributes.samesite, 'Lax');
    assert.equal(session.attributes['max-age'], '3600');
    assert.equal(session.attributes.domain, undefined, 'host-only: workspace hosts never see the session');
    assert.ok(clearedState.name.startsWith('__Host-carrel_login_') && clearedState.attributes['max-age'] === '0');
    const user = await deskSessionIdentity(deps.signer, { cookieName: '__Host-carrel_session', clock: deps.clock }).authenticate({ cookies: { '__Host-carrel_session': session.value } });
    assert.deepEqual(user, { userId: 'alice', name: 'Alice A.', roles: ['researcher'] });
    // The token request: client_secret_basic (form-encoded id and secret) and the verifier of the challenge
    const [request] = idp.tokenRequests;
    assert.equal(request.form.get('grant_type'), 'authorization_code');
    assert.equal(request.form.get('redirect_uri'), CALLBACK);
    assert.equal(request.form.get('client_secret'), null);
    const [id, secret] = Buffer.from(String(request.authorization).replace(/^Basic /, ''), 'base64').toString().split(':');
    assert.equal(decodeURIComponent(id), CLIENT_ID);
    assert.equal(decodeURIComponent(secret.replace(/\+/g, ' ')), 'shh: a secret/with+symbols');
  });

  it('a public client sends no secret, only client_id and the PKCE verifier', async () => {
    // Prepare
    deps = await depsFor(idp);
    const { query, cookie } = await startSignIn(deps, idp);
    // Act
    const result = await callback(deps, query, [cookie]);
    // Assess
    assert.equal(result.statusCode, 302, result.body);
    const [request] = idp.tokenRequests;
    assert.equal(request.authorization, undefined);
    assert.equal(request.form.get('client_id'), CLIENT_ID);
    assert.match(String(request.form.get('code_verifier')), /^[A-Za-z0-9_-]{43}$/);
  });

  it('uses client_secret_post where the provider supports only that', async () => {
    // Prepare
    idp.knobs.discovery = { token_endpoint_auth_methods_supported: ['client_secret_post'] };
    deps = await depsFor(idp, { secret: 's3cret' });
    const { query, cookie } = await startSignIn(deps, idp);
    // Act
    const result = await callback(deps, query, [cookie]);
    // Assess
    assert.equal(result.statusCode, 302, result.body);
    assert.equal(idp.tokenRequests[0].authorization, undefined);
    assert.equal(idp.tokenRequests[0].form.get('client_secret'), 's3cret');
  });

  it('reads discovery once per container', async () => {
    // Prepare
    const before = idp.discoveryRequests;
    // Act
    await startSignIn(deps, idp);
    await startSignIn(deps, idp);
    // Assess
    assert.equal(idp.discoveryRequests - before, 1);
  });

  for (const [what, returnTo] of [
    ['another site (//)', '//evil.example/a/demo'],
    ['an absolute URL', 'https://evil.example/'],
    ['a backslash path', '/\\evil.example'],
    ['a javascript: URL', 'javascript:alert(1)'],
    ['a relative path without /', 'a/demo'],
    ['a tab in the path', '/\t/evil.example'],
    ['a sign-in route', '/auth/callback?code=x'],
  ]) {
    it(`refuses an open redirect with 400, setting nothing: ${what}`, async () => {
      // Act
      const result = await makeLoginHandler(deps)(httpEvent('GET /auth/login', { query: { returnTo } }));
      // Assess
      assertRefused(result, 400, /returnTo must be a path on this desk/);
      assert.equal(result.cookies, undefined);
      assert.equal(result.headers?.location, undefined);
    });
  }

  it('returns to / when no returnTo is given', async () => {
    // Prepare
    const login = await makeLoginHandler(deps)(httpEvent('GET /auth/login'));
    const stateCookie = cookiesOf(login)[0];
    const query = idp.approve(String(login.headers?.location));
    // Act
    const result = await callback(deps, query, [`${stateCookie.name}=${stateCookie.value}`]);
    // Assess
    assert.equal(result.headers?.location, '/');
  });

  it('refuses a callback without the state cookie (another browser, or expired and dropped)', async () => {
    // Prepare
    const { query } = await startSignIn(deps, idp);
    // Act
    const result = await callback(deps, query, []);
    // Assess
    assertRefused(result, 400, /unknown to this browser or took longer than ten minutes/);
    assert.equal(idp.tokenRequests.length, 0, 'the code is never exchanged');
  });

  it('refuses a state cookie older than ten minutes', async () => {
    // Prepare
    const { query, cookie } = await startSignIn(deps, idp);
    deps.clock.advance(11 * 60_000);
    // Act
    const result = await callback(deps, query, [cookie]);
    // Assess
    assertRefused(result, 400, /took longer than ten minutes \(its login state expired\)/);
    assert.equal(idp.tokenRequests.length, 0);
  });

  it('refuses a state that does not match the cookie', async () => {
    // Prepare: the same cookie name (first 16 characters), another state
    const { query, cookie } = await startSignIn(deps, idp);
    const state = `${query.state.slice(0, 16)}${'x'.repeat(query.state.length - 16)}`;
    // Act
    const result = await callback(deps, { ...query, state }, [cookie]);
    // Assess
    assertRefused(result, 400, /another sign-in \(state mismatch\)/);
  });

  it('refuses a tampered state cookie (claims changed, or signed by another key)', async () => {
    // Prepare
    const { query, stateCookie } = await startSignIn(deps, idp);
    const [header, , signature] = stateCookie.value.split('.');
    const claims = { ...decodeJwt(stateCookie.value), rt: 'https://evil.example/' };
    const altered = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
    // Same kid, same claims, another key: what someone without the desk key can make.
    const forger = new LocalKeySigner(LocalKeySigner.generatePem(), deps.signer.keyId);
    const { iss: _iss, iat: _iat, exp: _exp, ...rest } = decodeJwt(stateCookie.value);
    const forged = await signJwt(forger, rest, 600, deps.clock.now());
    for (const value of [altered, forged, 'not-a-jwt']) {
      // Act
      const result = await callback(deps, query, [`${stateCookie.name}=${value}`]);
      // Assess
      assertRefused(result, 400, /altered or is not from this desk/);
    }
    assert.equal(idp.tokenRequests.length, 0);
  });

  it("shows the provider's error (e.g. the user cancelled) and sets no session", async () => {
    // Prepare
    const { query, cookie } = await startSignIn(deps, idp);
    // Act
    const result = await callback(deps, { state: query.state, error: 'access_denied', error_description: 'The user said <no>' }, [cookie]);
    // Assess
    assertRefused(result, 401, /did not sign you in \(access_denied: The user said &#60;no&#62;\)/);
  });

  it('refuses an answer naming another issuer (iss, RFC 9207)', async () => {
    // Prepare
    const { query, cookie } = await startSignIn(deps, idp);
    // Act
    const result = await callback(deps, { ...query, iss: 'https://evil.example' }, [cookie]);
    // Assess
    assertRefused(result, 400, /another identity provider/);
  });

  for (const [what, knobs, message] of [
    ['a nonce from another sign-in', { claims: { nonce: 'someone-elses-nonce' } }, /nonce claim/],
    ['the wrong audience', { claims: { aud: 'another-client' } }, /aud claim/],
    ['several audiences without azp for this client', { claims: { aud: [CLIENT_ID, 'other'], azp: 'other' } }, /azp claim/],
    ['another issuer', { claims: { iss: 'https://evil.example' } }, /iss claim/],
    ['an expired ID token', { claims: { exp: 1_000_000, iat: 999_000 } }, /ID token has expired/],
    ['no nonce', { claims: { nonce: undefined } }, /nonce claim/],
    ['a key the provider does not publish', { foreignKey: true }, /could not be verified/],
  ] as const) {
    it(`refuses an ID token with ${what} (401, no session)`, async () => {
      // Prepare
      Object.assign(idp.knobs, knobs);
      const { query, cookie } = await startSignIn(deps, idp);
      // Act
      const result = await callback(deps, query, [cookie]);
      // Assess
      assertRefused(result, 401, message);
    });
  }

  for (const [what, failure, status, message] of [
    ['answers 500', { status: 500, body: { error: 'server_error' } }, 502, /token endpoint refused the sign-in \(server_error\)/],
    ['answers 503 without JSON', { status: 503, body: 'down' }, 502, /token endpoint refused the sign-in/],
    ['refuses the client (invalid_client)', { status: 401, body: { error: 'invalid_client' } }, 502, /invalid_client/],
    ['no longer accepts the code (invalid_grant)', { status: 400, body: { error: 'invalid_grant', error_description: 'Code not valid' } }, 401, /no longer accepts this sign-in/],
    ['returns no ID token', { status: 200, body: { access_token: 'x', token_type: 'Bearer' } }, 502, /returned no ID token/],
  ] as const) {
    it(`answers ${status} when the token endpoint ${what}, setting no session`, async () => {
      // Prepare
      idp.knobs.tokenFailure = failure;
      const { query, cookie } = await startSignIn(deps, idp);
      // Act
      const result = await callback(deps, query, [cookie]);
      // Assess
      assertRefused(result, status, message);
    });
  }

  it('answers 502 when the token endpoint does not answer in time', async () => {
    // Prepare
    deps = await depsFor(idp, { timeoutMs: 200 });
    idp.knobs.tokenDelayMs = 1_000;
    const { query, cookie } = await startSignIn(deps, idp);
    // Act
    const started = Date.now();
    const result = await callback(deps, query, [cookie]);
    // Assess
    assertRefused(result, 502, /token endpoint did not answer within 0.2 s/);
    assert.ok(Date.now() - started < 900);
  });

  it('answers 502 at /auth/login when discovery fails, setting nothing, and asks again next time', async () => {
    // Prepare
    idp.knobs.discoveryStatus = 503;
    // Act
    const failed = await makeLoginHandler(deps)(httpEvent('GET /auth/login', { query: { returnTo: '/a/demo' } }));
    delete idp.knobs.discoveryStatus;
    const retried = await makeLoginHandler(deps)(httpEvent('GET /auth/login', { query: { returnTo: '/a/demo' } }));
    // Assess
    assertRefused(failed, 502, /discovery document answered HTTP 503/);
    assert.equal(failed.cookies, undefined);
    assert.equal(retried.statusCode, 302);
  });

  it('answers 502 when discovery names another issuer', async () => {
    // Prepare
    idp.knobs.discovery = { issuer: 'https://impostor.example' };
    // Act
    const result = await makeLoginHandler(deps)(httpEvent('GET /auth/login'));
    // Assess
    assertRefused(result, 502, /names issuer https:\/\/impostor.example/);
  });

  it('answers 502 when the provider cannot be reached', async () => {
    // Prepare
    const port = await freePort();
    const unreachable = await makeAppDeps({ env: { OIDC_ISSUER: `http://127.0.0.1:${port}/realms/none` } });
    const withClient = Object.assign(unreachable, { oidc: new OidcClient({ issuer: unreachable.config.oidc.issuer, clientId: CLIENT_ID, timeoutMs: 500 }) });
    // Act
    const result = await makeLoginHandler(withClient)(httpEvent('GET /auth/login'));
    // Assess
    assertRefused(result, 502, /discovery could not be reached/);
  });
});

describe('sign-out: POST /auth/logout', () => {
  let idp: HttpTestIdp;
  let deps: Deps;
  before(async () => {
    idp = await HttpTestIdp.start(() => new Date());
  });
  after(() => idp.close());
  beforeEach(async () => {
    delete idp.knobs.discovery;
    delete idp.knobs.discoveryStatus;
    deps = await depsFor(idp);
  });
  afterEach(() => undefined);

  it("clears the session and continues at the provider's end_session_endpoint (303 for a form post)", async () => {
    // Act
    const result = await makeLogoutHandler(deps)(httpEvent('POST /auth/logout', { headers: { accept: 'text/html' } }));
    // Assess
    assert.equal(result.statusCode, 303);
    const location = new URL(String(result.headers?.location));
    assert.equal(`${location.origin}${location.pathname}`, `${idp.issuer}/logout`);
    assert.equal(location.searchParams.get('client_id'), CLIENT_ID);
    assert.equal(location.searchParams.get('post_logout_redirect_uri'), 'https://app.test/');
    const [cleared] = cookiesOf(result);
    assert.equal(cleared.name, '__Host-carrel_session');
    assert.equal(cleared.value, '');
    assert.equal(cleared.attributes['max-age'], '0');
  });

  it('answers {redirect} to a script asking for JSON', async () => {
    // Act
    const result = await makeLogoutHandler(deps)(httpEvent('POST /auth/logout', { headers: { accept: 'application/json' } }));
    // Assess
    assert.equal(result.statusCode, 200);
    assert.match(JSON.parse(String(result.body)).redirect, /\/realms\/test\/logout\?/);
    assert.equal(cookiesOf(result)[0].attributes['max-age'], '0');
  });

  it('returns to the desk when the provider has no end_session_endpoint, or cannot be reached', async () => {
    // Prepare
    idp.knobs.discovery = { end_session_endpoint: undefined };
    const withoutEndpoint = await depsFor(idp);
    const unreachable = await makeAppDeps({ env: { OIDC_ISSUER: `http://127.0.0.1:${await freePort()}/realms/none` } });
    Object.assign(unreachable, { oidc: new OidcClient({ issuer: unreachable.config.oidc.issuer, clientId: CLIENT_ID, timeoutMs: 300 }) });
    for (const d of [withoutEndpoint, unreachable]) {
      // Act
      const result = await makeLogoutHandler(d)(httpEvent('POST /auth/logout'));
      // Assess
      assert.equal(result.statusCode, 303);
      assert.equal(result.headers?.location, '/');
      assert.equal(cookiesOf(result)[0].attributes['max-age'], '0');
    }
  });

  it('refuses a sign-out posted from another site', async () => {
    // Act
    const result = await makeLogoutHandler(deps)(httpEvent('POST /auth/logout', { headers: { 'sec-fetch-site': 'cross-site' } }));
    // Assess
    assert.equal(result.statusCode, 403);
    assert.equal(result.cookies, undefined);
  });
});
