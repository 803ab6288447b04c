/**
 * The bundled gate (what runs on workspace hosts) as its own process: it starts with plain `node`,
 * answers health, refuses bad configuration naming the setting, and streams 50 MB each way through
 * itself without holding it in memory:
 *  - backpressure: facing a tool that stops reading (or a browser that stops reading), the gate stops
 *    taking bytes after a few socket buffers' worth instead of soaking up the body;
 *  - memory: its RSS, sampled from /proc while 2 × 50 MB flow, grows far less than 50 MB. V8 frees
 *    spent chunk buffers only when it collects, and by default lets ~64 MB of such garbage pile up
 *    first; that would measure V8's laziness, not the gate. So the measured process runs with a full
 *    collection every 20 ms (a measurement aid passed on the command line, not part of the gate), and
 *    what remains is what the gate actually holds.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildGate } from '../../assets/gate/build.js';
import {
  COOKIE,
  HOST_HEADER,
  digest,
  gateCookie,
  gateEnv,
  generated,
  makeKeys,
  request,
  rssOf,
  startGateProcess,
  startUpstream,
  type GateProcess,
  type Keys,
  type Upstream,
} from './helpers.js';

const MB = 1024 * 1024;
const SIZE = 50 * MB;
/** Far below the 50 MB that buffering a body whole would cost. */
const MAX_GROWTH = 25 * MB;

describe('gate bundle', () => {
  let dir: string;
  let bundle: string;
  let keys: Keys;
  let upstream: Upstream;
  let gate: GateProcess;
  let measured: GateProcess;
  let cookie: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'carrel-gate-'));
    bundle = await buildGate(join(dir, 'gate.mjs'));
    keys = await makeKeys();
    upstream = await startUpstream();
    // run from an empty folder: the bundle must not need node_modules
    gate = await startGateProcess([bundle], gateEnv(keys, upstream.url));
    measured = await startGateProcess(
      ['--expose-gc', '--import', 'data:text/javascript,setInterval(() => globalThis.gc(), 20).unref()', bundle],
      gateEnv(keys, upstream.url),
    );
    cookie = `${COOKIE}=${await gateCookie(keys)}`;
  });
  after(async () => {
    await upstream?.close(); // first: it lets go of the held upload, so the gate has nothing left in flight
    assert.equal(await gate?.stop(), 0);
    assert.equal(await measured?.stop(), 0);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('starts with plain node and answers /__carrel/health', async () => {
    // Act
    const reply = await request(gate.port, '/__carrel/health');

    // Assess
    assert.equal(reply.status, 200);
    assert.deepEqual(JSON.parse(reply.body), { status: 'ok' });
    assert.ok(gate.output.some((l) => l.includes('"msg":"gate listening"')));
  });

  it('refuses to start without a setting, naming it', () => {
    // Act
    const run = spawnSync(process.execPath, [bundle], { env: { PATH: process.env.PATH ?? '', CARREL_GATE_PORT: '0' }, encoding: 'utf8', cwd: dir });

    // Assess
    assert.equal(run.status, 1);
    assert.match(run.stderr, /CARREL_GATE_HOSTNAME: is required/);
    assert.match(run.stderr, /CARREL_GATE_PUBLIC_KEY: is required/);
  });

  it('streams a 50 MB upload and a 50 MB download through without buffering them whole', async (t) => {
    if ((await rssOf(measured.pid)) === undefined) return t.skip('no /proc to sample the gate RSS');
    // Prepare: warm the paths up, then take the baseline
    await upload(measured.port, cookie, MB);
    await download(measured.port, cookie, MB);
    const baseline = (await rssOf(measured.pid))!;
    const highWaterBefore = (await rssOf(measured.pid, 'VmHWM'))!;
    let peak = baseline;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, (await rssOf(measured.pid)) ?? 0);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    const expected = await digest(generated(SIZE));

    // Act
    const up = await upload(measured.port, cookie, SIZE);
    const down = await download(measured.port, cookie, SIZE);
    sampling = false;
    await sampler;
    // the kernel's high-water mark catches a peak between samples, if the transfer set a new one
    const highWaterAfter = (await rssOf(measured.pid, 'VmHWM'))!;
    if (highWaterAfter > highWaterBefore) peak = Math.max(peak, highWaterAfter);

    // Assess
    assert.deepEqual(up.received, { sha256: up.sent.sha256, bytes: SIZE });
    assert.deepEqual(down, expected);
    const growth = peak - baseline;
    t.diagnostic(`gate RSS baseline ${(baseline / MB).toFixed(1)} MB, growth during 2 × 50 MB ${(growth / MB).toFixed(1)} MB`);
    assert.ok(growth < MAX_GROWTH, `the gate grew by ${(growth / MB).toFixed(1)} MB while streaming`);
  });

  it('stops taking an upload when the tool stops reading (backpressure, no soaking up)', async (t) => {
    // Prepare
    const req = http.request({ host: '127.0.0.1', port: gate.port, path: '/hold', method: 'POST', headers: { host: HOST_HEADER, cookie }, agent: false });
    req.on('error', () => {});
    const source = generated(SIZE);

    // Act: write until the gate stops taking bytes for a while
    let written = 0;
    for await (const chunk of source) {
      written += (chunk as Buffer).length;
      if (!req.write(chunk)) {
        const drained = await Promise.race([once(req, 'drain').then(() => true), sleep(500).then(() => false)]);
        if (!drained) break;
      }
    }
    req.destroy();

    // Assess
    t.diagnostic(`upload stalled after ${(written / MB).toFixed(1)} MB`);
    assert.ok(written < SIZE / 2, `the gate took ${(written / MB).toFixed(1)} MB from a tool that reads nothing`);
  });

  it('stops pulling a download when the browser stops reading (backpressure, no soaking up)', async (t) => {
    // Prepare
    const before = upstream.pushed;
    const req = http.request({ host: '127.0.0.1', port: gate.port, path: `/firehose?bytes=${SIZE}`, headers: { host: HOST_HEADER, cookie }, agent: false });
    req.on('error', () => {});
    req.end();
    const [res] = (await once(req, 'response')) as [http.IncomingMessage];

    // Act: read nothing; wait until the tool cannot push any more
    res.pause();
    let last = -1;
    while (upstream.pushed !== last) {
      last = upstream.pushed;
      await sleep(300);
    }
    const pushed = upstream.pushed - before;
    req.destroy();

    // Assess
    t.diagnostic(`download stalled after ${(pushed / MB).toFixed(1)} MB`);
    assert.ok(pushed < SIZE / 2, `the tool could push ${(pushed / MB).toFixed(1)} MB through the gate to a browser that reads nothing`);
  });
});

/** POSTs `bytes` generated on the fly; returns what was sent and what the tool says it received. */
async function upload(port: number, cookie: string, bytes: number) {
  const hash = createHash('sha256');
  const req = http.request({
    host: '127.0.0.1',
    port,
    path: '/upload',
    method: 'POST',
    headers: { host: HOST_HEADER, cookie, 'content-type': 'application/octet-stream' },
    agent: false,
  });
  const response = once(req, 'response') as Promise<[http.IncomingMessage]>;
  const source = generated(bytes);
  source.on('data', (chunk: Buffer) => hash.update(chunk));
  source.pipe(req);
  const [res] = await response;
  let body = '';
  for await (const chunk of res) body += String(chunk);
  assert.equal(res.statusCode, 200, body);
  return { sent: { sha256: hash.digest('hex') }, received: JSON.parse(body) as { sha256: string; bytes: number } };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));


async function download(port: number, cookie: string, bytes: number) {
  const req = http.request({ host: '127.0.0.1', port, path: `/download?bytes=${bytes}`, headers: { host: HOST_HEADER, cookie }, agent: false });
  req.end();
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  assert.equal(res.statusCode, 200);
  return digest(res);
}
