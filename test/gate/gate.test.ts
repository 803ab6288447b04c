import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { LocalKeySigner } from '../../lambdas/adapters/tokens.js';
import { createGate, stripGateCookies, withFrameAncestors, type Gate } from '../../assets/gate/gate.js';
import {
  COOKIE,
  DESK_ORIGIN,
  HOST_HEADER,
  UPSTREAM_AUTH,
  gateConfig,
  gateCookie,
  makeKeys,
  memoryLogger,
  request,
  startUpstream,
  type Keys,
  type Upstream,
} from './helpers.js';

const SIGNED_OUT = 'Your session for this workspace has expired or you are not signed in — open it again from the front desk';
const NOT_YOURS = 'belongs to another workspace or could not be verified';

describe('gate: admission', () => {
  let keys: Keys;
  let upstream: Upstream;
  let gate: Gate;
  let cookie: string;
  const log = memoryLogger();

  before(async () => {
    keys = await makeKeys();
    upstream = await startUpstream();
    gate = await createGate(gateConfig(keys, upstream.url), { log });
    cookie = `${COOKIE}=${await gateCookie(keys)}`;
  });
  after(async () => {
    await gate.close();
    await upstream.close();
  });

  it('admits the right cookie and proxies to the tool', async () => {
    // Prepare
    const before = upstream.seen.length;

    // Act
    const reply = await request(gate.port, '/tree?x=1', { headers: { cookie } });

    // Assess
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'hello from the tool');
    assert.equal(upstream.seen.length, before + 1);
    assert.equal(upstream.seen.at(-1)!.url, '/tree?x=1');
  });

  const refusals: { name: string; cookie: (k: Keys) => Promise<string | undefined>; wording: string }[] = [
    { name: 'no cookie', cookie: async () => undefined, wording: SIGNED_OUT },
    {
      name: 'a forged signature (another key)',
      cookie: async () => `${COOKIE}=${await gateCookie({ signer: new LocalKeySigner(LocalKeySigner.generatePem()), publicKeyPem: '' })}`,
      wording: NOT_YOURS,
    },
    { name: 'a cookie for another workspace hostname', cookie: async (k) => `${COOKIE}=${await gateCookie(k, { hostname: 'ws-other.app.localhost' })}`, wording: NOT_YOURS },
    {
      name: 'an expired cookie',
      cookie: async (k) => `${COOKIE}=${await gateCookie(k, { ttlSeconds: 60, now: new Date(Date.now() - 3_600_000) })}`,
      wording: SIGNED_OUT,
    },
    { name: 'the right token under the wrong cookie name', cookie: async (k) => `carrel_gate_ws-other=${await gateCookie(k)}`, wording: SIGNED_OUT },
    { name: 'garbage', cookie: async () => `${COOKIE}=not.a.jwt`, wording: NOT_YOURS },
  ];

  for (const refusal of refusals) {
    it(`refuses ${refusal.name} with 403 and the page, never reaching the tool`, async () => {
      // Prepare
      const value = await refusal.cookie(keys);
      const seenBefore = upstream.seen.length;

      // Act
      const reply = await request(gate.port, '/notebooks/secret.ipynb', { headers: value ? { cookie: value } : {} });

      // Assess
      assert.equal(reply.status, 403);
      assert.match(String(reply.headers['content-type']), /^text\/html/);
      assert.ok(reply.body.includes(refusal.wording), reply.body);
      assert.ok(reply.body.includes(`href="${DESK_ORIGIN}/"`));
      assert.match(String(reply.headers['content-security-policy']), new RegExp(`frame-ancestors ${DESK_ORIGIN}`));
      assert.equal(upstream.seen.length, seenBefore, 'the tool must never see a refused request');
    });
  }

  it('refuses a POST with a body without reading it into the tool', async () => {
    // Prepare
    const seenBefore = upstream.seen.length;

    // Act
    const reply = await request(gate.port, '/api/contents', { method: 'POST', body: 'x'.repeat(100_000), headers: { 'content-type': 'text/plain' } });

    // Assess
    assert.equal(reply.status, 403);
    assert.equal(upstream.seen.length, seenBefore);
  });

  it('answers HEAD refusals without a body', async () => {
    // Act
    const reply = await request(gate.port, '/', { method: 'HEAD' });

    // Assess
    assert.equal(reply.status, 403);
    assert.equal(reply.body, '');
  });

  it('keeps carrel_gate_* cookies away from the tool, keeps the others, injects Authorization and keeps Host', async () => {
    // Prepare
    const headers = { cookie: `theme=dark; ${cookie}; carrel_gate_ws-other=xyz; _xsrf=2|a|b`, authorization: 'Bearer from-browser' };

    // Act
    const reply = await request(gate.port, '/headers', { headers });

    // Assess
    assert.equal(reply.status, 200);
    const seen = JSON.parse(reply.body) as Record<string, string>;
    assert.equal(seen.cookie, 'theme=dark; _xsrf=2|a|b');
    assert.equal(seen.authorization, UPSTREAM_AUTH);
    assert.equal(seen.host, HOST_HEADER);
    assert.equal(seen['x-forwarded-proto'], 'http');
  });

  it('sends no Cookie header upstream when only gate cookies were present', async () => {
    // Act
    const reply = await request(gate.port, '/headers', { headers: { cookie } });

    // Assess
    assert.equal((JSON.parse(reply.body) as Record<string, string>).cookie, undefined);
  });

  it('passes every Set-Cookie through, drops X-Frame-Options and lets the desk frame the tool', async () => {
    // Act
    const reply = await request(gate.port, '/cookies', { headers: { cookie } });

    // Assess
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.headers['set-cookie'], ['a=1; Path=/; HttpOnly', 'b=2; Path=/; SameSite=Lax', '_xsrf=2|abc|def; Path=/']);
    assert.equal(reply.headers['x-frame-options'], undefined);
    assert.equal(reply.headers['content-security-policy'], `default-src 'self'; frame-ancestors ${DESK_ORIGIN}; report-uri /api/security/csp-report`);
  });

  it('sets frame-ancestors when the tool sent no CSP', async () => {
    // Act
    const reply = await request(gate.port, '/no-csp', { headers: { cookie } });

    // Assess
    assert.equal(reply.headers['x-frame-options'], undefined);
    assert.equal(reply.headers['content-security-policy'], `frame-ancestors ${DESK_ORIGIN}`);
  });

  it('reserves /__carrel/ for itself', async () => {
    // Prepare
    const seenBefore = upstream.seen.length;

    // Act
    const reply = await request(gate.port, '/__carrel/anything', { headers: { cookie } });

    // Assess
    assert.equal(reply.status, 404);
    assert.equal(upstream.seen.length, seenBefore);
  });

  it('proxies a WebSocket echo with the cookie, Host kept and no gate cookie upstream', async () => {
    // Prepare
    const ws = new WebSocket(`ws://127.0.0.1:${gate.port}/ws`, { headers: { host: HOST_HEADER, cookie: `${cookie}; theme=dark`, origin: `http://${HOST_HEADER}` } });
    await once(ws, 'open');

    // Act
    ws.send('print(1+1)');
    const [text] = (await once(ws, 'message')) as [Buffer];
    ws.send(Buffer.from([1, 2, 3]));
    const [binary] = (await once(ws, 'message')) as [Buffer];
    ws.close();
    await once(ws, 'close');

    // Assess
    assert.equal(text.toString(), 'print(1+1)');
    assert.deepEqual([...binary], [1, 2, 3]);
    const seen = upstream.wsHeaders.at(-1)!;
    assert.equal(seen.host, HOST_HEADER);
    assert.equal(seen.origin, `http://${HOST_HEADER}`);
    assert.equal(seen.cookie, 'theme=dark');
    assert.equal(seen.authorization, UPSTREAM_AUTH);
  });

  for (const [name, header] of [
    ['no cookie', undefined],
    ['a cookie for another workspace', 'other'],
  ] as const) {
    it(`refuses a WebSocket upgrade with ${name} before upgrading`, async () => {
      // Prepare
      const upgradesBefore = upstream.wsHeaders.length;
      const value = header ? `${COOKIE}=${await gateCookie(keys, { hostname: 'ws-other.app.localhost' })}` : undefined;
      const ws = new WebSocket(`ws://127.0.0.1:${gate.port}/ws`, { headers: { host: HOST_HEADER, ...(value ? { cookie: value } : {}) } });

      // Act
      const [, response] = (await once(ws, 'unexpected-response')) as [unknown, import('node:http').IncomingMessage];
      let body = '';
      for await (const chunk of response) body += String(chunk);

      // Assess
      assert.equal(response.statusCode, 403);
      assert.match(body, /Not allowed/);
      assert.equal(upstream.wsHeaders.length, upgradesBefore);
    });
  }

  it('answers /__carrel/health with 200 without a cookie, revealing nothing', async () => {
    // Act
    const reply = await request(gate.port, '/__carrel/health');

    // Assess
    assert.equal(reply.status, 200);
    assert.deepEqual(JSON.parse(reply.body), { status: 'ok' });
  });

  it('never logs cookies, tokens or the tool credentials', () => {
    // Assess
    const all = log.lines.join('\n');
    assert.ok(log.lines.some((l) => l.includes('request refused')));
    assert.ok(!all.includes(cookie.split('=')[1]!), 'cookie value logged');
    assert.ok(!all.includes('s3cret-tool-token'), 'upstream auth logged');
    assert.ok(!all.includes('eyJ'), 'a JWT was logged');
  });
});

describe('gate: the tool is down', () => {
  let keys: Keys;
  let gate: Gate;

  before(async () => {
    keys = await makeKeys();
    const upstream = await startUpstream();
    const deadUrl = upstream.url;
    await upstream.close();
    gate = await createGate(gateConfig(keys, deadUrl), { log: memoryLogger() });
  });
  after(() => gate.close());

  it('health is 503', async () => {
    // Act
    const reply = await request(gate.port, '/__carrel/health');

    // Assess
    assert.equal(reply.status, 503);
    assert.deepEqual(JSON.parse(reply.body), { status: 'unavailable' });
  });

  it('an admitted request gets a 502 page saying the tool is not answering', async () => {
    // Prepare
    const cookie = `${COOKIE}=${await gateCookie(keys)}`;

    // Act
    const reply = await request(gate.port, '/tree', { headers: { cookie } });

    // Assess
    assert.equal(reply.status, 502);
    assert.match(reply.body, /The tool is not answering/);
  });

  it('an admitted WebSocket gets a 502 before upgrading', async () => {
    // Prepare
    const cookie = `${COOKIE}=${await gateCookie(keys)}`;
    const ws = new WebSocket(`ws://127.0.0.1:${gate.port}/ws`, { headers: { host: HOST_HEADER, cookie } });

    // Act
    const [, response] = (await once(ws, 'unexpected-response')) as [unknown, import('node:http').IncomingMessage];
    response.resume();

    // Assess
    assert.equal(response.statusCode, 502);
  });
});

describe('gate: verified cookies are remembered only until they expire', () => {
  it('refuses a cached cookie once the clock passes its exp', async () => {
    // Prepare
    const keys = await makeKeys();
    const upstream = await startUpstream();
    let clock = new Date();
    const gate = await createGate(gateConfig(keys, upstream.url), { now: () => clock, log: memoryLogger() });
    const cookie = `${COOKIE}=${await gateCookie(keys, { ttlSeconds: 60, now: clock })}`;
    try {
      const first = await request(gate.port, '/', { headers: { cookie } });

      // Act
      clock = new Date(clock.getTime() + 61_000);
      const later = await request(gate.port, '/', { headers: { cookie } });

      // Assess
      assert.equal(first.status, 200);
      assert.equal(later.status, 403);
      assert.match(later.body, /has expired/);
    } finally {
      await gate.close();
      await upstream.close();
    }
  });
});

describe('gate: header helpers', () => {
  it('withFrameAncestors replaces only that directive, in every policy', () => {
    // Act / Assess
    assert.equal(withFrameAncestors(undefined, DESK_ORIGIN), `frame-ancestors ${DESK_ORIGIN}`);
    assert.equal(withFrameAncestors("default-src 'self'", DESK_ORIGIN), `default-src 'self'; frame-ancestors ${DESK_ORIGIN}`);
    assert.equal(
      withFrameAncestors("script-src 'self'; FRAME-ANCESTORS 'none', img-src *; frame-ancestors 'self'", DESK_ORIGIN),
      `script-src 'self'; frame-ancestors ${DESK_ORIGIN}, img-src *; frame-ancestors ${DESK_ORIGIN}`,
    );
    assert.equal(withFrameAncestors(["a 'self'", 'b *'], DESK_ORIGIN), `a 'self'; frame-ancestors ${DESK_ORIGIN}, b *`);
  });

  it('stripGateCookies removes only carrel_gate_* cookies', () => {
    // Act / Assess
    assert.equal(stripGateCookies('carrel_gate_ws-a=1; x=2;carrel_gate_ws-b=3 ; carrel_session=4'), 'x=2; carrel_session=4');
    assert.equal(stripGateCookies('carrel_gate_ws-a=1'), undefined);
    assert.equal(stripGateCookies(undefined), undefined);
  });

});
