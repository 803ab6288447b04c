/**
 * The sign-in of the local runtime end to end over HTTP: the desk's /auth routes (the production handlers)
 * against the local OpenID Connect provider, then sign-out through its end-session endpoint.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call } from '../support/http.js';
import { startTestRuntime, type TestRuntime } from '../support/local-runtime.js';
import { pathOf, signInThroughIdp } from '../support/sign-in.js';

describe('local sign-in through the OpenID Connect provider', { timeout: 120_000 }, () => {
  let t: TestRuntime;
  before(async () => {
    t = await startTestRuntime();
  });
  after(() => t?.close());

  it('signs in as bob, returns to the page asked for, and the session opens the API', async () => {
    // Act
    const { jar, location } = await signInThroughIdp(t.port, t.desk, 'bob', { returnTo: '/a/census-2021' });
    const me = await call(t.port, t.desk, 'GET', '/api/me', { jar });
    // Assess
    assert.equal(location, '/a/census-2021');
    assert.equal(me.status, 200, me.body);
    assert.equal(me.json().user.userId, 'bob');
    assert.deepEqual(jar.names().filter((n) => n.includes('carrel_login')), [], 'the login state is cleared');
  });

  it('refuses an open redirect before going to the provider', async () => {
    // Act
    const reply = await call(t.port, t.desk, 'GET', `/auth/login?returnTo=${encodeURIComponent('//evil.example/')}`);
    // Assess
    assert.equal(reply.status, 400);
    assert.equal(reply.headers['set-cookie'], undefined);
    assert.match(reply.body, /returnTo must be a path on this desk/);
  });

  it('signs out: clears the session, passes through the provider, and comes back to the desk', async () => {
    // Prepare
    const { jar } = await signInThroughIdp(t.port, t.desk, 'alice');
    // Act
    const out = await call(t.port, t.desk, 'POST', '/auth/logout', { jar, headers: { accept: 'application/json' } });
    const endSession = await call(t.port, t.desk, 'GET', pathOf(out.json().redirect), { jar });
    const me = await call(t.port, t.desk, 'GET', '/api/me', { jar });
    // Assess
    assert.equal(out.status, 200);
    assert.match(out.json().redirect, /\/local-idp\/end-session\?client_id=carrel-local&post_logout_redirect_uri=/);
    assert.equal(endSession.status, 302);
    assert.equal(endSession.headers.location, `http://app.localhost:${t.port}/`);
    assert.equal(me.status, 401);
  });
});
