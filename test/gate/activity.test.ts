import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, beforeEach, describe, it } from 'node:test';
import WebSocket from 'ws';
import { classifyRequest, WsFrameCounter } from '../../assets/gate/activity.js';
import { createGate, type Gate } from '../../assets/gate/gate.js';
import {
  agentToken,
  COOKIE,
  DESK_ORIGIN,
  HOST_HEADER,
  UPSTREAM_AUTH,
  gateConfig,
  gateCookie,
  makeKeys,
  manualTimers,
  memoryLogger,
  request,
  startActivitySink,
  startUpstream,
  type Keys,
  type Upstream,
} from './helpers.js';

/** A client→server frame as a browser sends it (masked). */
function clientFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | len]) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (len >= 126 && len < 65536) {
    head[0] = (fin ? 0x80 : 0) | opcode;
    head[1] = 0x80 | 126;
    head.writeUInt16BE(len, 2);
  } else if (len >= 65536) {
    head[0] = (fin ? 0x80 : 0) | opcode;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([head, mask, masked]);
}

describe('activity: what counts', () => {
  it('counts changes and navigations, not background GETs', () => {
    // Act / Assess
    assert.equal(classifyRequest('POST', {}), 'change');
    assert.equal(classifyRequest('PUT', {}), 'change');
    assert.equal(classifyRequest('DELETE', {}), 'change');
    assert.equal(classifyRequest('PATCH', {}), 'change');
    assert.equal(classifyRequest('GET', { 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' }), 'navigation');
    assert.equal(classifyRequest('GET', { 'sec-fetch-dest': 'iframe' }), 'navigation');
    assert.equal(classifyRequest('GET', { 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' }), undefined);
    assert.equal(classifyRequest('GET', {}), undefined);
    assert.equal(classifyRequest('HEAD', {}), undefined);
    assert.equal(classifyRequest('OPTIONS', {}), undefined);
  });

  it('counts WebSocket data frames split anywhere across chunks, but not control frames', () => {
    // Prepare
    const stream = Buffer.concat([
      clientFrame(0x1, Buffer.from('{"msg_type":"execute_request"}')),
      clientFrame(0x9, Buffer.from('ping')), // ping
      clientFrame(0xa, Buffer.from('pong')), // pong (what a browser answers to the tool's pings)
      clientFrame(0x2, Buffer.alloc(70_000, 7)), // binary, 64-bit length
      clientFrame(0x1, Buffer.alloc(300, 65), false), // fragmented text, 16-bit length ...
      clientFrame(0x0, Buffer.from('tail')), // ... and its continuation
      clientFrame(0x8, Buffer.from([0x03, 0xe8])), // close
    ]);
    const counter = new WsFrameCounter();

    // Act: feed in awkward pieces, including 1-byte ones inside headers
    let frames = 0;
    const cuts = [1, 2, 3, 50, 51, 52, 53, 100, 1000, 70_100, 70_101, stream.length];
    let from = 0;
    for (const cut of cuts) {
      frames += counter.feed(stream.subarray(from, cut));
      from = cut;
    }

    // Assess
    assert.equal(frames, 4);
  });
});

describe('activity: reporting through a running gate', () => {
  let keys: Keys;
  let upstream: Upstream;
  let sink: Awaited<ReturnType<typeof startActivitySink>>;
  let gate: Gate;
  let cookie: string;
  let token: string;
  const timers = manualTimers();
  const log = memoryLogger();

  before(async () => {
    keys = await makeKeys();
    upstream = await startUpstream();
    sink = await startActivitySink();
    token = await agentToken(keys);
    gate = await createGate(gateConfig(keys, upstream.url, { activityUrl: sink.url, agentToken: token, reportSeconds: 30, busyProbe: 'jupyter' }), {
      timers,
      log,
    });
    cookie = `${COOKIE}=${await gateCookie(keys)}`;
  });
  after(async () => {
    await gate.close();
    await sink.close();
    await upstream.close();
  });
  beforeEach(async () => {
    upstream.kernels = [];
    sink.state.status = 204;
    await gate.reportActivity(); // start each test from a clean slate
    sink.reports.length = 0;
  });

  it('reports on the configured interval', async () => {
    // Prepare
    await request(gate.port, '/', { method: 'POST', headers: { cookie } });

    // Act: the timer fires
    assert.equal(timers.intervals[0]!.ms, 30_000);
    timers.intervals[0]!.fn();
    await waitFor(() => sink.reports.length === 1);

    // Assess
    assert.deepEqual(sink.reports[0]!.body, { traffic: true, busy: false });
  });

  it('does not report background GET polling', async () => {
    // Prepare
    await request(gate.port, '/api/contents', { headers: { cookie, 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' } });
    await request(gate.port, '/api/sessions', { headers: { cookie } });

    // Act
    const outcome = await gate.reportActivity();

    // Assess
    assert.deepEqual(outcome, { sent: false, reason: 'idle' });
    assert.equal(sink.reports.length, 0);
  });

  it('reports a navigation with the agent token as bearer', async () => {
    // Prepare
    await request(gate.port, '/tree', { headers: { cookie, 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'iframe' } });

    // Act
    const outcome = await gate.reportActivity();

    // Assess
    assert.equal(outcome.sent, true);
    assert.deepEqual(sink.reports, [{ authorization: `Bearer ${token}`, body: { traffic: true, busy: false } }]);
  });

  it('reports a POST, once (the next round is idle again)', async () => {
    // Prepare
    await request(gate.port, '/api/contents', { method: 'POST', headers: { cookie } });

    // Act
    await gate.reportActivity();
    const next = await gate.reportActivity();

    // Assess
    assert.equal(sink.reports.length, 1);
    assert.deepEqual(next, { sent: false, reason: 'idle' });
  });

  it('does not count refused requests', async () => {
    // Prepare
    await request(gate.port, '/api/contents', { method: 'POST' });

    // Act
    const outcome = await gate.reportActivity();

    // Assess
    assert.deepEqual(outcome, { sent: false, reason: 'idle' });
  });

  it('counts WebSocket messages from the browser, not the connection, pings or messages from the tool', async () => {
    // Prepare
    const ws = new WebSocket(`ws://127.0.0.1:${gate.port}/ws`, { headers: { host: HOST_HEADER, cookie } });
    await once(ws, 'open');
    ws.ping();
    await once(ws, 'pong');
    const quiet = await gate.reportActivity();

    // Act
    ws.send('{"header":{"msg_type":"execute_request"}}');
    await once(ws, 'message');
    const active = await gate.reportActivity();
    ws.close();
    await once(ws, 'close');

    // Assess
    assert.deepEqual(quiet, { sent: false, reason: 'idle' });
    assert.equal(active.sent, true);
    assert.deepEqual(sink.reports.map((r) => r.body), [{ traffic: true, busy: false }]);
  });

  it('reports busy when a kernel is busy, asking the tool with its credentials', async () => {
    // Prepare
    upstream.kernels = [
      { id: 'k1', execution_state: 'idle' },
      { id: 'k2', execution_state: 'busy' },
    ];
    const seenBefore = upstream.seen.length;

    // Act
    await gate.reportActivity();

    // Assess
    assert.deepEqual(sink.reports.map((r) => r.body), [{ traffic: false, busy: true }]);
    const probe = upstream.seen.slice(seenBefore).find((r) => r.url === '/api/kernels');
    assert.equal(probe?.headers.authorization, UPSTREAM_AUTH);
  });

  it('keeps proxying when the activity endpoint fails, and retries the traffic next round', async () => {
    // Prepare
    sink.state.status = 500;
    await request(gate.port, '/api/contents', { method: 'PUT', headers: { cookie } });

    // Act
    const failed = await gate.reportActivity();
    const proxied = await request(gate.port, '/', { headers: { cookie } });
    sink.state.status = 204;
    const retried = await gate.reportActivity();

    // Assess
    assert.deepEqual(failed, { sent: true, ok: false, traffic: true, busy: false, status: 500 });
    assert.equal(proxied.status, 200);
    assert.deepEqual(retried, { sent: true, ok: true, traffic: true, busy: false, status: 204 });
    assert.ok(log.lines.some((l) => l.includes('activity report failed')));
    assert.ok(!log.lines.join('\n').includes(token), 'the agent token must never be logged');
  });

  it('links its pages to the analysis on the desk', async () => {
    // Act
    const reply = await request(gate.port, '/');

    // Assess
    assert.ok(reply.body.includes(`href="${DESK_ORIGIN}/a/demo"`));
  });
});

describe('activity: an unreachable desk', () => {
  it('times out, logs without the token and keeps proxying', async () => {
    // Prepare: an endpoint that accepts the connection and never answers
    const keys = await makeKeys();
    const upstream = await startUpstream();
    const net = await import('node:net');
    const sockets: import('node:net').Socket[] = [];
    const blackHole = net.createServer((s) => sockets.push(s)).listen(0, '127.0.0.1');
    await once(blackHole, 'listening');
    const token = await agentToken(keys);
    const log = memoryLogger();
    const url = new URL(`http://127.0.0.1:${(blackHole.address() as import('node:net').AddressInfo).port}/api/agent/activity`);
    const gate = await createGate(gateConfig(keys, upstream.url, { activityUrl: url, agentToken: token, reportSeconds: 1 }), { timers: manualTimers(), log });
    const cookie = `${COOKIE}=${await gateCookie(keys)}`;
    try {
      await request(gate.port, '/x', { method: 'POST', headers: { cookie } });

      // Act
      const started = Date.now();
      const outcome = await gate.reportActivity();
      const proxied = await request(gate.port, '/', { headers: { cookie } });

      // Assess
      assert.equal(outcome.sent && outcome.ok, false);
      assert.ok(Date.now() - started < 5_000, 'the report must time out');
      assert.equal(proxied.status, 200);
      assert.ok(!log.lines.join('\n').includes(token));
    } finally {
      await gate.close();
      for (const s of sockets) s.destroy();
      blackHole.close();
      await upstream.close();
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
