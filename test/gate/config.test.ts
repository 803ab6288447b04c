import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GateConfigError, loadGateConfig } from '../../assets/gate/config.js';
import { createGate } from '../../assets/gate/gate.js';
import { COOKIE, HOST_HEADER, gateCookie, gateEnv, makeKeys, memoryLogger, startUpstream, type Keys, type Upstream } from './helpers.js';

/** A test certificate for `*.app.test` and its key (valid for a century). */
const FIXTURES = new URL('../provision/fixtures/', import.meta.url);
const TLS_FILES = { cert: fileURLToPath(new URL('test-gate-cert.pem', FIXTURES)), key: fileURLToPath(new URL('test-gate-key.pem', FIXTURES)) };
const TLS = { cert: readFileSync(TLS_FILES.cert, 'utf8'), key: readFileSync(TLS_FILES.key, 'utf8') };

/** No line of the certificate's or key's base64 body appears in `text`. */
function assertNoSecret(text: string): void {
  for (const pem of [TLS.cert, TLS.key]) {
    for (const line of pem.split('\n').filter((l) => l && !l.startsWith('-----'))) assert.ok(!text.includes(line), 'PEM content leaked');
  }
}

function configError(env: Record<string, string>): string {
  try {
    loadGateConfig(env);
  } catch (error) {
    assert.ok(error instanceof GateConfigError);
    return error.message;
  }
  assert.fail('expected a GateConfigError');
}

describe('gate configuration', () => {
  let keys: Keys;
  before(async () => {
    keys = await makeKeys();
  });

  it('reads a valid environment with its defaults', () => {
    // Prepare
    const env = gateEnv(keys, 'http://127.0.0.1:8888', { CARREL_GATE_LISTEN_HOST: '', CARREL_GATE_DESK_ORIGIN: 'http://app.localhost:8080/' });

    // Act
    const config = loadGateConfig(env);

    // Assess
    assert.equal(config.port, 0);
    assert.equal(config.listenHost, '0.0.0.0');
    assert.equal(config.hostname, 'ws-abc123.app.localhost');
    assert.equal(config.hostLabel, 'ws-abc123');
    assert.equal(config.deskOrigin, 'http://app.localhost:8080');
    assert.equal(config.upstream.href, 'http://127.0.0.1:8888/');
    assert.equal(config.reportSeconds, 60);
    assert.equal(config.busyProbe, 'none');
    assert.equal(config.activityUrl, undefined);
    assert.equal(config.tls, undefined);
  });

  it('accepts a PEM written on one line with \\n escapes', () => {
    // Prepare
    const env = gateEnv(keys, 'http://127.0.0.1:8888', { CARREL_GATE_PUBLIC_KEY: keys.publicKeyPem.trim().replace(/\n/g, '\\n') });

    // Act
    const config = loadGateConfig(env);

    // Assess
    assert.equal(config.publicKeyPem, keys.publicKeyPem);
  });

  it('names every missing setting', () => {
    // Act
    const message = configError({ CARREL_GATE_PORT: '8443' });

    // Assess
    for (const name of ['CARREL_GATE_HOSTNAME', 'CARREL_GATE_PUBLIC_KEY', 'CARREL_GATE_UPSTREAM', 'CARREL_GATE_DESK_ORIGIN']) {
      assert.match(message, new RegExp(`${name}: is required`));
    }
    assert.doesNotMatch(message, /CARREL_GATE_PORT/);
  });

  it('names malformed settings', () => {
    // Act
    const message = configError(
      gateEnv(keys, 'ftp://x', {
        CARREL_GATE_PORT: '70000',
        CARREL_GATE_HOSTNAME: 'https://ws-a.example.org',
        CARREL_GATE_DESK_ORIGIN: 'https://desk.example.org/app',
        CARREL_GATE_BUSY_PROBE: 'rstudio',
        CARREL_GATE_REPORT_SECONDS: '-1',
      }),
    );

    // Assess
    for (const name of ['CARREL_GATE_PORT', 'CARREL_GATE_HOSTNAME', 'CARREL_GATE_UPSTREAM', 'CARREL_GATE_DESK_ORIGIN', 'CARREL_GATE_BUSY_PROBE', 'CARREL_GATE_REPORT_SECONDS']) {
      assert.match(message, new RegExp(`${name}: `));
    }
  });

  it('wants the activity URL and the agent token together', () => {
    // Act
    const withoutToken = configError(gateEnv(keys, 'http://127.0.0.1:1', { CARREL_GATE_ACTIVITY_URL: 'http://desk/api/agent/activity' }));

    // Assess
    assert.match(withoutToken, /CARREL_GATE_AGENT_TOKEN: is required when CARREL_GATE_ACTIVITY_URL is set/);
  });

  it('wants the TLS certificate and key together, and readable', () => {
    // Act
    const keyMissing = configError(gateEnv(keys, 'http://127.0.0.1:1', { CARREL_GATE_TLS_CERT: '/etc/hostname' }));
    const unreadable = configError(gateEnv(keys, 'http://127.0.0.1:1', { CARREL_GATE_TLS_CERT: '/nonexistent/cert.pem', CARREL_GATE_TLS_KEY: '/nonexistent/key.pem' }));

    // Assess
    assert.match(keyMissing, /CARREL_GATE_TLS_KEY: is required when CARREL_GATE_TLS_CERT is set/);
    assert.match(unreadable, /CARREL_GATE_TLS_CERT: cannot read "\/nonexistent\/cert.pem" \(ENOENT\)/);
  });

  describe('TLS as PEM variables (Fargate: ECS injects them from Secrets Manager)', () => {
    it('reads the certificate and key from CARREL_GATE_TLS_CERT_PEM / CARREL_GATE_TLS_KEY_PEM', () => {
      // Prepare
      const env = gateEnv(keys, 'http://127.0.0.1:1', { CARREL_GATE_TLS_CERT_PEM: TLS.cert, CARREL_GATE_TLS_KEY_PEM: TLS.key });

      // Act
      const config = loadGateConfig(env);

      // Assess
      assert.deepEqual(config.tls, { cert: TLS.cert, key: TLS.key, source: 'environment' });
    });

    it('accepts PEM written on one line with \\n escapes', () => {
      // Prepare
      const oneLine = (pem: string) => pem.trim().replace(/\n/g, '\\n');
      const env = gateEnv(keys, 'http://127.0.0.1:1', { CARREL_GATE_TLS_CERT_PEM: oneLine(TLS.cert), CARREL_GATE_TLS_KEY_PEM: oneLine(TLS.key) });

      // Act
      const config = loadGateConfig(env);

      // Assess
      assert.equal(config.tls?.cert, TLS.cert);
      assert.equal(config.tls?.key, TLS.key);
    });

    it('refuses PEM variables and file paths together', () => {
      // Act
      const message = configError(
        gateEnv(keys, 'http://127.0.0.1:1', {
          CARREL_GATE_TLS_CERT_PEM: TLS.cert,
          CARREL_GATE_TLS_KEY_PEM: TLS.key,
          CARREL_GATE_TLS_CERT: TLS_FILES.cert,
          CARREL_GATE_TLS_KEY: TLS_FILES.key,
        }),
      );

      // Assess
      assert.match(message, /CARREL_GATE_TLS_CERT_PEM: cannot be combined with CARREL_GATE_TLS_CERT \/ CARREL_GATE_TLS_KEY: .*either as PEM .* or as file paths .*not both/);
      assertNoSecret(message);
    });

    it('wants the certificate and the key together, naming the missing one', () => {
      // Act
      const keyMissing = configError(gateEnv(keys, 'http://127.0.0.1:1', { CARREL_GATE_TLS_CERT_PEM: TLS.cert }));
      const certMissing = configError(gateEnv(keys, 'http://127.0.0.1:1', { CARREL_GATE_TLS_KEY_PEM: TLS.key }));

      // Assess
      assert.match(keyMissing, /CARREL_GATE_TLS_KEY_PEM: is required when CARREL_GATE_TLS_CERT_PEM is set/);
      assert.match(certMissing, /CARREL_GATE_TLS_CERT_PEM: is required when CARREL_GATE_TLS_KEY_PEM is set/);
      assertNoSecret(certMissing);
    });

    it('names a value that is not PEM, or a key of another certificate, without quoting either', () => {
      // Prepare
      const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

      // Act
      const garbled = configError(gateEnv(keys, 'http://127.0.0.1:1', { CARREL_GATE_TLS_CERT_PEM: 'not a certificate', CARREL_GATE_TLS_KEY_PEM: TLS.cert }));
      const mismatched = configError(gateEnv(keys, 'http://127.0.0.1:1', { CARREL_GATE_TLS_CERT_PEM: TLS.cert, CARREL_GATE_TLS_KEY_PEM: otherKey }));

      // Assess
      assert.match(garbled, /CARREL_GATE_TLS_CERT_PEM: is not a PEM certificate/);
      assert.match(garbled, /CARREL_GATE_TLS_KEY_PEM: is not an unencrypted PEM private key/);
      assert.match(mismatched, /CARREL_GATE_TLS_KEY_PEM: does not match the certificate in CARREL_GATE_TLS_CERT_PEM/);
      assertNoSecret(garbled);
      assertNoSecret(mismatched);
      assert.ok(!mismatched.includes(otherKey.split('\n')[1]!));
      assert.ok(!garbled.includes('not a certificate'));
    });

    it('checks a certificate and key given as paths the same way', () => {
      // Act
      const swapped = configError(gateEnv(keys, 'http://127.0.0.1:1', { CARREL_GATE_TLS_CERT: TLS_FILES.key, CARREL_GATE_TLS_KEY: TLS_FILES.cert }));

      // Assess
      assert.match(swapped, /CARREL_GATE_TLS_CERT \(".*test-gate-key\.pem"\): is not a PEM certificate/);
      assertNoSecret(swapped);
    });
  });
});

describe('gate over TLS', () => {
  let dir: string;
  let keys: Keys;
  let upstream: Upstream;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'carrel-gate-tls-'));
    keys = await makeKeys();
    upstream = await startUpstream();
  });
  after(async () => {
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves https with the certificate and key given as PEM variables, and logs neither', async () => {
    // Prepare
    const log = memoryLogger();
    const config = loadGateConfig(gateEnv(keys, upstream.url, { CARREL_GATE_TLS_CERT_PEM: TLS.cert, CARREL_GATE_TLS_KEY_PEM: TLS.key }));
    const gate = await createGate(config, { log });
    const cookie = `${COOKIE}=${await gateCookie(keys)}`;
    try {
      // Act
      const reply = await new Promise<{ status: number; body: string; subject?: string }>((resolve, reject) => {
        https
          .get({ host: '127.0.0.1', port: gate.port, path: '/headers', headers: { host: HOST_HEADER, cookie }, rejectUnauthorized: false, agent: false }, (res) => {
            const subject = (res.socket as TLSSocket).getPeerCertificate().subject?.CN?.toString();
            let body = '';
            res.on('data', (c) => (body += String(c)));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body, subject }));
          })
          .on('error', reject);
      });

      // Assess
      assert.equal(reply.status, 200);
      assert.equal(reply.subject, '*.app.test', 'the certificate from the variable');
      assert.equal((JSON.parse(reply.body) as Record<string, string>)['x-forwarded-proto'], 'https');
      const logged = log.lines.join('\n');
      assert.match(logged, /"tls":"environment"/);
      assertNoSecret(logged);
    } finally {
      await gate.close();
    }
  });

  it('serves https when given a certificate and key', async (t) => {
    // Prepare
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=ws-abc123.app.localhost',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    } catch {
      return t.skip('openssl is not available to make a test certificate');
    }
    const config = loadGateConfig(gateEnv(keys, upstream.url, { CARREL_GATE_TLS_CERT: join(dir, 'cert.pem'), CARREL_GATE_TLS_KEY: join(dir, 'key.pem') }));
    const gate = await createGate(config, { log: memoryLogger() });
    const cookie = `${COOKIE}=${await gateCookie(keys)}`;
    try {
      // Act
      const reply = await new Promise<{ status: number; body: string; proto?: string }>((resolve, reject) => {
        https
          .get({ host: '127.0.0.1', port: gate.port, path: '/headers', headers: { host: HOST_HEADER, cookie }, rejectUnauthorized: false, agent: false }, (res) => {
            let body = '';
            res.on('data', (c) => (body += String(c)));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          })
          .on('error', reject);
      });

      // Assess
      assert.equal(reply.status, 200);
      assert.equal((JSON.parse(reply.body) as Record<string, string>)['x-forwarded-proto'], 'https');
    } finally {
      await gate.close();
    }
  });
});
