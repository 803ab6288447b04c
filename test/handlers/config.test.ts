import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LocalKeySigner } from '../../lambdas/adapters/tokens.js';
import { ConfigError, loadConfig } from '../../lambdas/handlers/config.js';
import { TEST_ENV } from './support.js';

function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    return error;
  }
  assert.fail('loadConfig accepted a bad environment');
}

describe('loadConfig', () => {
  it('applies the documented defaults and derives the lifecycle policy', () => {
    // Act
    const config = loadConfig({ ...TEST_ENV, PATH: '/usr/bin' });
    // Assess
    assert.equal(config.cookieDomain, 'app.test');
    assert.equal(config.publicUrlScheme, 'https');
    assert.equal(config.publicPort, undefined);
    assert.equal(config.cookieSecure, true);
    assert.deepEqual(config.signing, { kind: 'kms', keyId: 'alias/carrel-test' });
    assert.equal(config.oidc.rolesClaim, 'groups');
    assert.equal(config.sessionCookie, 'carrel_session');
    assert.equal(config.gateCookieTtlSeconds, 900);
    assert.equal(config.agentTokenTtlSeconds, 2_592_000);
    assert.equal(config.heartbeatSeconds, 60);
    assert.equal(config.policy.idleTimeoutMs, 1_800_000);
    assert.equal(config.policy.idleWarningMs, 60_000);
    assert.equal(config.policy.stoppedRetentionMs, 168 * 3_600_000);
    assert.ok(config.policy.deadlines.starting > 0);
  });

  it('reads every setting that is given', () => {
    // Prepare
    const pem = LocalKeySigner.generatePem();
    // Act
    const config = loadConfig({
      ...TEST_ENV,
      SIGNING_KEY_ID: undefined,
      SIGNING_KEY_PEM: pem.replace(/\n/g, '\\n'),
      DESK_DOMAIN: 'Desk.Example.ORG',
      COOKIE_DOMAIN: 'example.org',
      PUBLIC_URL_SCHEME: 'http',
      PUBLIC_PORT: '8080',
      COOKIE_SECURE: 'false',
      OIDC_ROLES_CLAIM: 'roles',
      SESSION_COOKIE: 'sess',
      IDLE_TIMEOUT_SECONDS: '600',
      IDLE_WARNING_SECONDS: '30',
      STOPPED_RETENTION_HOURS: '24',
      HEARTBEAT_SECONDS: '20',
      GATE_COOKIE_TTL_SECONDS: '300',
      POWERTOOLS_LOG_LEVEL: 'debug',
    });
    // Assess
    assert.equal(config.deskDomain, 'desk.example.org');
    assert.equal(config.cookieDomain, 'example.org');
    assert.deepEqual(config.signing, { kind: 'pem', pem });
    assert.equal(config.publicPort, 8080);
    assert.equal(config.cookieSecure, false);
    assert.equal(config.policy.idleTimeoutMs, 600_000);
    assert.equal(config.policy.stoppedRetentionMs, 24 * 3_600_000);
    assert.equal(config.logLevel, 'DEBUG');
  });

  const bad: [string, Record<string, string | undefined>, RegExp][] = [
    ['TABLE_NAME missing', { TABLE_NAME: undefined }, /TABLE_NAME is required/],
    ['TABLE_NAME empty', { TABLE_NAME: '' }, /TABLE_NAME is required/],
    ['OIDC_ISSUER missing', { OIDC_ISSUER: undefined }, /OIDC_ISSUER is required/],
    ['DESK_DOMAIN not a DNS name', { DESK_DOMAIN: 'https://desk.example.org' }, /DESK_DOMAIN must be a DNS name/],
    ['PUBLIC_PORT not a port', { PUBLIC_PORT: '99999' }, /PUBLIC_PORT must be a port number/],
    ['PUBLIC_PORT not a number', { PUBLIC_PORT: 'eighty' }, /PUBLIC_PORT must be a port number/],
    ['COOKIE_SECURE not a boolean', { COOKIE_SECURE: 'maybe' }, /COOKIE_SECURE must be true or false/],
    ['COOKIE_DOMAIN unrelated', { COOKIE_DOMAIN: 'other.test' }, /COOKIE_DOMAIN must be DESK_DOMAIN \(app.test\) or a parent domain of it/],
    ['no signing key', { SIGNING_KEY_ID: undefined }, /SIGNING_KEY_ID is required \(or SIGNING_KEY_PEM in local mode\)/],
    ['two signing keys', { SIGNING_KEY_PEM: LocalKeySigner.generatePem() }, /SIGNING_KEY_PEM must not be set together with SIGNING_KEY_ID/],
    ['a PEM that is not a key', { SIGNING_KEY_ID: undefined, SIGNING_KEY_PEM: 'hello' }, /SIGNING_KEY_PEM must be a PKCS#8 PEM private key/],
    ['OIDC_JWKS_URL not a URL', { OIDC_JWKS_URL: 'jwks.json' }, /OIDC_JWKS_URL must be an http\(s\) URL/],
    ['IDLE_TIMEOUT_SECONDS fractional', { IDLE_TIMEOUT_SECONDS: '90.5' }, /IDLE_TIMEOUT_SECONDS must be a whole number of seconds/],
    ['IDLE_WARNING_SECONDS too long', { IDLE_WARNING_SECONDS: '1800' }, /IDLE_WARNING_SECONDS must be shorter than IDLE_TIMEOUT_SECONDS/],
    ['GATE_COOKIE_TTL_SECONDS below the heartbeat', { GATE_COOKIE_TTL_SECONDS: '45' }, /GATE_COOKIE_TTL_SECONDS must be longer than HEARTBEAT_SECONDS/],
    ['STOPPED_RETENTION_HOURS negative', { STOPPED_RETENTION_HOURS: '-1' }, /STOPPED_RETENTION_HOURS must be at least 1 hours/],
    ['PUBLIC_URL_SCHEME unknown', { PUBLIC_URL_SCHEME: 'ftp' }, /PUBLIC_URL_SCHEME must be https or http/],
  ];
  for (const [what, change, pattern] of bad) {
    it(`names the setting when ${what}`, () => {
      // Act
      const error = configError({ ...TEST_ENV, ...change });
      // Assess
      assert.match(error.message, /^Invalid configuration: /);
      assert.match(error.message, pattern);
    });
  }

  it('lists every bad setting at once', () => {
    // Act
    const error = configError({ DESK_DOMAIN: 'app.test' });
    // Assess
    for (const name of ['TABLE_NAME', 'DEPLOYMENT_ID', 'OIDC_ISSUER', 'OIDC_AUDIENCE', 'SIGNING_KEY_ID']) {
      assert.ok(error.issues.some((issue) => issue.startsWith(name)), `${name} is named`);
    }
  });
});
