import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { TransientError, UnauthenticatedError } from '../../lambdas/core/index.js';
import { OidcIdentity, rolesFrom } from '../../lambdas/adapters/oidc-identity.js';
import { FakeClock } from '../support/fakes.js';
import { AUDIENCE, ISSUER, TestIdp } from './support.js';

const clock = new FakeClock();
const now = () => clock.now();

function identityFor(idp: TestIdp, extra: Partial<ConstructorParameters<typeof OidcIdentity>[0]> = {}) {
  return new OidcIdentity({ issuer: ISSUER, audience: AUDIENCE, jwks: idp.jwks, clock, ...extra });
}

async function refusal(promise: Promise<unknown>): Promise<UnauthenticatedError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof UnauthenticatedError, `expected UnauthenticatedError, got ${error}`);
    assert.ok(error.message.length > 10);
    return error;
  }
  assert.fail('the session was accepted');
}

describe('OidcIdentity with a provided JWKS (local mode)', () => {
  it('maps claims to the user: sub, name, roles from the configured claim', async () => {
    // Prepare
    const idp = await TestIdp.create();
    const token = await idp.session('alice', { now: now(), name: 'Alice A.', claims: { 'carrel:roles': ['researcher', 'admin', 7] } });
    // Act
    const user = await identityFor(idp, { rolesClaim: 'carrel:roles' }).authenticate({ cookies: { '__Host-carrel_session': token } });
    // Assess
    assert.deepEqual(user, { userId: 'alice', name: 'Alice A.', roles: ['researcher', 'admin'] });
  });

  it('reads roles from a space-separated string, and none when the claim is absent', () => {
    // Act / Assess
    assert.deepEqual(rolesFrom('researcher  reviewer researcher'), ['researcher', 'reviewer']);
    assert.deepEqual(rolesFrom(undefined), []);
    assert.deepEqual(rolesFrom({ admin: true }), []);
  });

  it('takes the session from the configured cookie, else from Authorization: Bearer', async () => {
    // Prepare
    const idp = await TestIdp.create();
    const identity = identityFor(idp, { cookieName: 'sess' });
    const token = await idp.session('bob', { now: now() });
    // Act
    const fromCookie = await identity.authenticate({ cookies: { sess: token } });
    const fromBearer = await identity.authenticate({ cookies: { '__Host-carrel_session': 'ignored' }, authorization: `bearer ${token}` });
    // Assess
    assert.equal(fromCookie.userId, 'bob');
    assert.equal(fromBearer.userId, 'bob');
  });

  it('accepts RS256 sessions too', async () => {
    // Prepare
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'rsa', alg: 'RS256' }] };
    const iat = Math.floor(now().getTime() / 1000);
    const token = await new SignJWT({ name: 'Rita' }).setProtectedHeader({ alg: 'RS256', kid: 'rsa' }).setSubject('rita').setIssuer(ISSUER).setAudience(AUDIENCE).setIssuedAt(iat).setExpirationTime(iat + 60).sign(privateKey);
    // Act
    const user = await new OidcIdentity({ issuer: ISSUER, audience: AUDIENCE, jwks, clock }).authenticate({ cookies: { '__Host-carrel_session': token } });
    // Assess
    assert.equal(user.userId, 'rita');
  });

  it('refuses: missing, expired, wrong audience or issuer, forged, unsigned, no sub', async () => {
    // Prepare
    const idp = await TestIdp.create();
    const identity = identityFor(idp);
    const iat = Math.floor(now().getTime() / 1000);
    const cases: [string, string | undefined, RegExp][] = [
      ['missing', undefined, /not signed in/],
      ['expired', await idp.session('alice', { now: new Date(now().getTime() - 7_200_000) }), /expired/],
      ['wrong audience', await idp.session('alice', { now: now(), claims: { aud: 'other' } }), /aud claim/],
      ['wrong issuer', await idp.session('alice', { now: now(), claims: { iss: 'https://other.test' } }), /iss claim/],
      ['forged', await (await TestIdp.create(idp.kid)).session('alice', { now: now() }), /not valid/],
      ['unsigned', new UnsecuredJWT({ sub: 'alice' }).setIssuer(ISSUER).setAudience(AUDIENCE).setIssuedAt(iat).setExpirationTime(iat + 60).encode(), /not valid/],
      ['no sub', await idp.session('', { now: now() }), /not valid/],
      ['oversized', 'a'.repeat(9000), /not valid/],
    ];
    for (const [what, token, pattern] of cases) {
      // Act
      const error = await refusal(identity.authenticate({ cookies: token === undefined ? {} : { '__Host-carrel_session': token } }));
      // Assess
      assert.match(error.message, pattern, what);
      if (token !== undefined && what !== 'oversized' && what !== 'no sub') assert.ok(error.cause, `${what} keeps its cause`);
    }
  });

  it('needs exactly one of jwksUrl, jwks and publicKeyPem', () => {
    // Act / Assess
    assert.throws(() => new OidcIdentity({ issuer: ISSUER, audience: AUDIENCE }), /exactly one of jwksUrl, jwks or publicKeyPem/);
  });
});

describe('OidcIdentity with a remote JWKS URL (production)', () => {
  let server: Server;
  let url: string;
  let fetches = 0;
  let idp: TestIdp;
  let failing = false;

  before(async () => {
    idp = await TestIdp.create();
    server = createServer((_req, res) => {
      fetches++;
      if (failing) {
        res.writeHead(500).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(idp.jwks));
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  });
  after(() => new Promise<void>((ok) => server.close(() => ok())));

  it('verifies through the same path and fetches the key set once (cached)', async () => {
    // Prepare
    fetches = 0;
    const identity = new OidcIdentity({ issuer: ISSUER, audience: AUDIENCE, jwksUrl: url, clock });
    // Act
    const first = await identity.authenticate({ cookies: { '__Host-carrel_session': await idp.session('alice', { now: now() }) } });
    const second = await identity.authenticate({ cookies: { '__Host-carrel_session': await idp.session('bob', { now: now() }) } });
    // Assess
    assert.equal(first.userId, 'alice');
    assert.equal(second.userId, 'bob');
    assert.equal(fetches, 1);
  });

  it('turns an unreachable key set into a TransientError (503), not a 401', async () => {
    // Prepare
    failing = true;
    const identity = new OidcIdentity({ issuer: ISSUER, audience: AUDIENCE, jwksUrl: url, clock });
    const deadUrl = new OidcIdentity({ issuer: ISSUER, audience: AUDIENCE, jwksUrl: 'http://127.0.0.1:1/jwks', clock });
    const token = await idp.session('alice', { now: now() });
    // Act / Assess
    try {
      await assert.rejects(identity.authenticate({ cookies: { '__Host-carrel_session': token } }), TransientError);
      await assert.rejects(deadUrl.authenticate({ cookies: { '__Host-carrel_session': token } }), TransientError);
    } finally {
      failing = false;
    }
  });
});
