/** The local OpenID Connect provider (local/idp.ts): what it refuses, so local sign-ins behave like real ones. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { LocalKeySigner } from '../../../lambdas/adapters/tokens.js';
import { LocalIdentityProvider } from '../../../local/idp.js';

const ISSUER = 'http://app.localhost:8080/local-idp';
const CALLBACK = 'http://app.localhost:8080/auth/callback';
const VERIFIER = 'v'.repeat(43);
const CHALLENGE = createHash('sha256').update(VERIFIER).digest('base64url');
const USERS = { getUser: async (id: string) => (id === 'alice' ? { userId: 'alice', name: 'Alice', roles: ['researcher'] } : undefined) };

function event(options: { query?: Record<string, string>; body?: string; headers?: Record<string, string> } = {}): APIGatewayProxyEventV2 {
  return { queryStringParameters: options.query, body: options.body, headers: options.headers ?? {}, isBase64Encoded: false } as unknown as APIGatewayProxyEventV2;
}

function provider() {
  return new LocalIdentityProvider(LocalKeySigner.generatePem(), ISSUER, USERS, { redirectUris: [CALLBACK], postLogoutRedirectUris: ['http://app.localhost:8080/'] });
}

const AUTHORIZE = {
  response_type: 'code',
  client_id: 'carrel-local',
  redirect_uri: CALLBACK,
  scope: 'openid profile',
  state: 'state-1',
  nonce: 'nonce-1',
  code_challenge: CHALLENGE,
  code_challenge_method: 'S256',
};

/** authorize → sign-in form: the code the desk would receive. */
async function codeFor(idp: LocalIdentityProvider, username = 'alice'): Promise<string> {
  const authorized = await idp.authorize(event({ query: AUTHORIZE }));
  const request = new URL(String(authorized.headers?.location), 'http://x').searchParams.get('request') ?? '';
  const signed = await idp.signIn(event({ body: JSON.stringify({ request, username }) }));
  return new URL(JSON.parse(String(signed.body)).redirect).searchParams.get('code') ?? '';
}

function tokenForm(code: string, overrides: Record<string, string> = {}) {
  return event({ body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, client_id: 'carrel-local', code_verifier: VERIFIER, ...overrides }).toString() });
}

describe('local identity provider', () => {
  it('publishes discovery for the code flow with PKCE S256', async () => {
    // Act
    const doc = JSON.parse(String((await provider().discovery(event())).body));
    // Assess
    assert.equal(doc.issuer, ISSUER);
    assert.equal(doc.token_endpoint, `${ISSUER}/token`);
    assert.deepEqual(doc.code_challenge_methods_supported, ['S256']);
    assert.ok(doc.end_session_endpoint);
  });

  it('issues a verifiable ID token with the nonce for a code with the right PKCE verifier, once', async () => {
    // Prepare
    const idp = provider();
    const code = await codeFor(idp);
    // Act
    const first = await idp.token(tokenForm(code));
    const again = await idp.token(tokenForm(code));
    // Assess
    assert.equal(first.statusCode, 200, first.body);
    const { payload } = await jwtVerify(JSON.parse(String(first.body)).id_token, createLocalJWKSet(await idp.jwks()), { issuer: ISSUER, audience: 'carrel-local' });
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.nonce, 'nonce-1');
    assert.deepEqual(payload.groups, ['researcher']);
    assert.equal(again.statusCode, 400);
    assert.equal(JSON.parse(String(again.body)).error, 'invalid_grant');
  });

  for (const [what, overrides, error] of [
    ['a wrong PKCE verifier', { code_verifier: 'w'.repeat(43) }, 'invalid_grant'],
    ['another redirect_uri', { redirect_uri: 'http://app.localhost:8080/elsewhere' }, 'invalid_grant'],
    ['another client', { client_id: 'other' }, 'invalid_client'],
    ['another grant type', { grant_type: 'password' }, 'unsupported_grant_type'],
  ] as const) {
    it(`refuses a token request with ${what}`, async () => {
      // Prepare
      const idp = provider();
      const code = await codeFor(idp);
      // Act
      const result = await idp.token(tokenForm(code, overrides));
      // Assess
      assert.ok(result.statusCode === 400 || result.statusCode === 401);
      assert.equal(JSON.parse(String(result.body)).error, error);
    });
  }

  it('never redirects to an unregistered redirect URI or for an unknown client', async () => {
    for (const query of [{ ...AUTHORIZE, redirect_uri: 'https://evil.example/cb' }, { ...AUTHORIZE, client_id: 'other' }]) {
      // Act
      const result = await provider().authorize(event({ query }));
      // Assess
      assert.equal(result.statusCode, 400);
      assert.equal(result.headers?.location, undefined);
    }
  });

  it('sends a request without PKCE back to the desk with invalid_request', async () => {
    // Act
    const result = await provider().authorize(event({ query: { ...AUTHORIZE, code_challenge_method: 'plain' } }));
    // Assess
    const location = new URL(String(result.headers?.location));
    assert.equal(`${location.origin}${location.pathname}`, CALLBACK);
    assert.equal(location.searchParams.get('error'), 'invalid_request');
    assert.equal(location.searchParams.get('state'), 'state-1');
  });

  it('refuses an unknown user and an unknown sign-in request on the form', async () => {
    // Prepare
    const idp = provider();
    const authorized = await idp.authorize(event({ query: AUTHORIZE }));
    const request = new URL(String(authorized.headers?.location), 'http://x').searchParams.get('request');
    // Act
    const unknownUser = await idp.signIn(event({ body: JSON.stringify({ request, username: 'mallory' }) }));
    const unknownRequest = await idp.signIn(event({ body: JSON.stringify({ request: 'nope', username: 'alice' }) }));
    // Assess
    assert.equal(unknownUser.statusCode, 401);
    assert.match(String(unknownUser.body), /No user named/);
    assert.equal(unknownRequest.statusCode, 400);
    assert.match(String(unknownRequest.body), /expired/);
  });

  it('ends a session only towards a registered address', async () => {
    // Act
    const ok = await provider().endSession(event({ query: { post_logout_redirect_uri: 'http://app.localhost:8080/' } }));
    const evil = await provider().endSession(event({ query: { post_logout_redirect_uri: 'https://evil.example/' } }));
    // Assess
    assert.equal(ok.statusCode, 302);
    assert.equal(evil.statusCode, 400);
  });
});
