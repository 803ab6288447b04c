/**
 * Gate throughput and added latency for a small GET, direct vs through the gate, in one run (loopback
 * only, a few seconds each). The tool stand-in and the bundled gate run as their own processes so the
 * load generator (autocannon, here) does not share their event loop.
 *
 *   npx tsx test/gate/bench-gate.ts        → prints the figures as JSON
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildGate } from '../../assets/gate/build.js';
import { COOKIE, HOST_HEADER, gateCookie, gateEnv, makeKeys, startGateProcess } from './helpers.js';

export interface LoadFigures {
  /** Mean requests per second. */
  readonly rps: number;
  /** Latency percentiles in milliseconds. */
  readonly p50: number;
  readonly p99: number;
}

export interface BenchOptions {
  /** Seconds of measured load per target (after a 1 s warm-up). */
  readonly seconds?: number;
  readonly connections?: number;
}

interface AutocannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
  errors: number;
  non2xx: number;
}
type Autocannon = (options: { url: string; connections: number; duration: number; headers?: Record<string, string> }) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const TOOL_SCRIPT = `
const http = require('node:http');
const body = Buffer.from('{"ok":true}');
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 65000;
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

async function startTool() {
  const child = spawn(process.execPath, ['-e', TOOL_SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
  return {
    url: `http://127.0.0.1:${Number(chunk.toString().trim())}`,
    stop: async () => {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function load(url: string, connections: number, seconds: number, headers?: Record<string, string>): Promise<LoadFigures> {
  await autocannon({ url, connections, duration: 1, headers });
  const result = await autocannon({ url, connections, duration: seconds, headers });
  if (result.errors || result.non2xx) throw new Error(`${url}: ${result.errors} errors, ${result.non2xx} non-2xx responses`);
  return { rps: Math.round(result.requests.average), p50: result.latency.p50, p99: result.latency.p99 };
}

export async function benchGate(options: BenchOptions = {}): Promise<{ direct: LoadFigures; gate: LoadFigures }> {
  const seconds = options.seconds ?? 3;
  const connections = options.connections ?? 10;
  const dir = await mkdtemp(join(tmpdir(), 'carrel-bench-gate-'));
  const tool = await startTool();
  try {
    const keys = await makeKeys();
    const gate = await startGateProcess([await buildGate(join(dir, 'gate.mjs'))], gateEnv(keys, tool.url));
    try {
      const headers = { host: HOST_HEADER, cookie: `${COOKIE}=${await gateCookie(keys, { ttlSeconds: 3600 })}` };
      const direct = await load(`${tool.url}/api/contents`, connections, seconds, { host: HOST_HEADER });
      const gated = await load(`http://127.0.0.1:${gate.port}/api/contents`, connections, seconds, headers);
      return { direct, gate: gated };
    } finally {
      await gate.stop();
    }
  } finally {
    await tool.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  benchGate().then(
    (figures) => process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(1);
    },
  );
}
