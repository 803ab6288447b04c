/**
 * The Fargate bootstrap step against the real desk route: the step signs with credentials from an ECS-style
 * credentials endpoint, the desk handler (lambdas/handlers/bootstrap.ts) checks the request and has a
 * signature-checking STS stand-in vouch for the task, and the step writes the gate's settings and the tool's
 * token; then the gate starts from them. Also once with the bundle, as the task runs it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { BOOTSTRAP_ENV } from '../../assets/gate/bootstrap-contract.js';
import { fetchSettings, loadBootstrapSettings, runBootstrap } from '../../assets/gate/bootstrap.js';
import { buildGate } from '../../assets/gate/build.js';
import { GateConfigError, loadGateConfig } from '../../assets/gate/config.js';
import { homeRoleName } from '../../lambdas/adapters/aws/iam-home-roles.js';
import { StsTaskIdentity } from '../../lambdas/adapters/aws/sts-task-identity.js';
import { makeAgentBootstrapHandler } from '../../lambdas/handlers/app.js';
import { FakeSts, taskCredentials } from '../support/fake-sts.js';
import { makeWorkspace } from '../support/fakes.js';
import { httpEvent, makeAppDeps, type TestDeps } from '../handlers/support.js';
import { memoryLogger, request, startGateProcess, startUpstream } from './helpers.js';

const CLUSTER = 'arn:aws:ecs:eu-west-2:123456789012:cluster/carrel-prod-workspaces';
const TASK_ID = '0123456789abcdef0123456789abcdef';
const TASK_ARN = `arn:aws:ecs:eu-west-2:123456789012:task/carrel-prod-workspaces/${TASK_ID}`;
const TASK = taskCredentials(1, `arn:aws:sts::123456789012:assumed-role/${homeRoleName('prod', { analysisId: 'demo', userId: 'alice' })}/${TASK_ID}`);

async function listen(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** The desk: the real bootstrap handler behind a plain HTTP server (API Gateway's part is the event shape). */
async function startDesk(deps: TestDeps) {
  const handler = makeAgentBootstrapHandler(deps);
  let requests = 0;
  const server = await listen(async (req, res) => {
    requests++;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const result = await handler(httpEvent('POST /api/agent/bootstrap', { body: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
    res.writeHead(result.statusCode ?? 500, result.headers as http.OutgoingHttpHeaders).end(result.body);
  });
  return { ...server, requests: () => requests };
}

/** The ECS credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI accepts loopback). */
async function startCredentials() {
  return listen((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({ AccessKeyId: TASK.accessKeyId, SecretAccessKey: TASK.secretAccessKey, Token: TASK.sessionToken, Expiration: new Date(Date.now() + 3600_000).toISOString() }),
    );
  });
}

describe('Fargate bootstrap step', () => {
  let dir: string;
  let deps: TestDeps;
  let desk: Awaited<ReturnType<typeof startDesk>>;
  let credentials: Awaited<ReturnType<typeof startCredentials>>;
  let env: Record<string, string>;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'carrel-bootstrap-'));
    deps = await makeAppDeps();
    const sts = new FakeSts().add(TASK);
    Object.assign(deps, { taskIdentity: new StsTaskIdentity({ deploymentId: 'prod', clusterArn: CLUSTER, serverId: deps.config.deskDomain, fetch: sts.fetch }) });
    deps.store.seed(makeWorkspace('starting', { instanceId: TASK_ARN, generation: 2 }, { at: deps.clock.now() }));
    desk = await startDesk(deps);
    credentials = await startCredentials();
    env = {
      AWS_CONTAINER_CREDENTIALS_FULL_URI: `${credentials.url}/v2/credentials/task`,
      [BOOTSTRAP_ENV.mode]: 'bootstrap',
      [BOOTSTRAP_ENV.url]: `${desk.url}/api/agent/bootstrap`,
      [BOOTSTRAP_ENV.serverId]: deps.config.deskDomain,
      [BOOTSTRAP_ENV.stsUrl]: 'https://sts.eu-west-2.amazonaws.com/',
      [BOOTSTRAP_ENV.stsRegion]: 'eu-west-2',
      [BOOTSTRAP_ENV.settingsFile]: join(dir, 'gate', 'settings.json'),
      [BOOTSTRAP_ENV.toolTokenFile]: join(dir, 'tool', 'token'),
    };
    process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI = env.AWS_CONTAINER_CREDENTIALS_FULL_URI;
  });

  afterEach(async () => {
    delete process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI;
    await desk.close();
    await credentials.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the workspace’s settings and a tool token, from which the gate configures itself', async () => {
    // Prepare
    const log = memoryLogger();

    // Act
    const code = await runBootstrap(env, { log });

    // Assess
    assert.equal(code, 0, log.lines.join('\n'));
    const toolToken = await readFile(env[BOOTSTRAP_ENV.toolTokenFile]!, 'utf8');
    assert.match(toolToken, /^[A-Za-z0-9_-]{43}$/);
    assert.equal((await stat(env[BOOTSTRAP_ENV.toolTokenFile]!)).mode & 0o777, 0o444);
    const config = loadGateConfig({
      CARREL_GATE_PORT: '0',
      CARREL_GATE_UPSTREAM: 'http://127.0.0.1:8888',
      CARREL_GATE_DESK_ORIGIN: `https://${deps.config.deskDomain}`,
      CARREL_GATE_ACTIVITY_URL: `https://${deps.config.deskDomain}/api/agent/activity`,
      [BOOTSTRAP_ENV.settingsFile]: env[BOOTSTRAP_ENV.settingsFile],
    });
    assert.equal(config.hostname, `ws-alicelabel00000.${deps.config.deskDomain}`);
    assert.equal(config.hostLabel, 'ws-alicelabel00000');
    assert.equal(config.publicKeyPem, await deps.signer.publicKeyPem());
    assert.equal(config.upstreamAuth, `token ${toolToken}`);
    assert.equal((await deps.verifier.verifyAgentToken(config.agentToken!, deps.clock.now())).generation, 2);
    const logged = log.lines.join('\n');
    for (const secret of [toolToken, config.agentToken!, TASK.sessionToken, TASK.secretAccessKey]) assert.ok(!logged.includes(secret), 'no secret in the log');
    assert.match(logged, /bootstrap done/);
  });

  it('retries while the desk does not know the task yet, then succeeds', async () => {
    // Prepare: the launch has not recorded the task yet
    const ws = deps.store.peek({ analysisId: 'demo', userId: 'alice' })!;
    deps.store.seed({ ...ws, instanceId: undefined });
    const waits: number[] = [];
    const log = memoryLogger();
    const settings = loadBootstrapSettings(env);

    // Act
    const answer = await fetchSettings(settings, {
      log,
      sleep: async (ms) => {
        waits.push(ms);
        if (waits.length === 2) deps.store.seed({ ...ws, instanceId: TASK_ARN });
      },
    });

    // Assess
    assert.equal(answer.CARREL_GATE_HOST_LABEL, 'ws-alicelabel00000');
    assert.deepEqual(waits, [1000, 2000]);
    assert.equal(desk.requests(), 3);
    assert.equal(log.lines.filter((l) => l.includes('bootstrap attempt failed; retrying') && l.includes('"status":404')).length, 2);
  });

  it('stops at once when the desk refuses (another home’s role), exits 1 with one clear line and writes nothing', async () => {
    // Prepare
    const other = new StsTaskIdentity({ deploymentId: 'prod', clusterArn: CLUSTER, serverId: deps.config.deskDomain, fetch: new FakeSts().add({ ...TASK, arn: TASK.arn.replace(/home-[0-9a-f]+/, 'home-0000000000000000') }).fetch });
    Object.assign(deps, { taskIdentity: other });
    const log = memoryLogger();

    // Act
    const code = await runBootstrap(env, { log, sleep: async () => assert.fail('a refusal is not retried') });

    // Assess
    assert.equal(code, 1);
    assert.equal(desk.requests(), 1);
    const failure = log.lines.map((l) => JSON.parse(l) as { level: string; msg: string; reason?: string }).find((l) => l.level === 'error');
    assert.equal(failure?.msg, 'bootstrap failed: the gate cannot start without its settings');
    assert.match(failure!.reason!, /the desk answered 403: This task runs as role carrel-prod-home-0000000000000000/);
    await assert.rejects(readFile(env[BOOTSTRAP_ENV.settingsFile]!), /ENOENT/);
    await assert.rejects(readFile(env[BOOTSTRAP_ENV.toolTokenFile]!), /ENOENT/);
  });

  it('gives up after the configured attempts when the desk cannot be reached', async () => {
    // Prepare
    await desk.close();
    const log = memoryLogger();
    const waits: number[] = [];

    // Act
    const code = await runBootstrap({ ...env, [BOOTSTRAP_ENV.attempts]: '3' }, { log, sleep: async (ms) => void waits.push(ms) });

    // Assess
    assert.equal(code, 1);
    assert.deepEqual(waits, [1000, 2000]);
    assert.match(log.lines.at(-1)!, /gave up after 3 attempts: the desk could not be reached/);
    desk = await startDesk(deps);
  });

  it('refuses a bad configuration, naming the setting', async () => {
    // Prepare
    const log = memoryLogger();

    // Act
    const code = await runBootstrap({ ...env, [BOOTSTRAP_ENV.stsUrl]: 'http://sts.example', [BOOTSTRAP_ENV.url]: '' }, { log });

    // Assess
    assert.equal(code, 1);
    assert.match(log.lines.at(-1)!, /CARREL_GATE_BOOTSTRAP_URL: is required.*CARREL_GATE_STS_URL: must be an https URL/s);
  });

  it('the gate refuses a settings file that is missing or sets what it may not', async () => {
    // Prepare
    const file = join(dir, 'settings.json');
    await writeFile(file, JSON.stringify({ CARREL_GATE_UPSTREAM: 'http://evil.example' }));
    const base = { CARREL_GATE_PORT: '0', CARREL_GATE_UPSTREAM: 'http://127.0.0.1:8888', CARREL_GATE_DESK_ORIGIN: 'https://desk.example.org' };

    // Act / Assess
    assert.throws(() => loadGateConfig({ ...base, CARREL_GATE_SETTINGS_FILE: file }), (e) => e instanceof GateConfigError && /may not set CARREL_GATE_UPSTREAM/.test(e.message));
    assert.throws(
      () => loadGateConfig({ ...base, CARREL_GATE_SETTINGS_FILE: join(dir, 'missing.json') }),
      (e) => e instanceof GateConfigError && /CARREL_GATE_SETTINGS_FILE: cannot read .*ENOENT.*the bootstrap step writes it/.test(e.message),
    );
  });
});

describe('Fargate bootstrap step, bundled', () => {
  let dir: string;
  let bundle: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'carrel-bootstrap-bundle-'));
    bundle = await buildGate(join(dir, 'gate.mjs'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('runs as the init container (CARREL_GATE_MODE=bootstrap), then the gate starts from its files and injects the tool token', async () => {
    // Prepare
    const deps = await makeAppDeps();
    Object.assign(deps, {
      taskIdentity: new StsTaskIdentity({ deploymentId: 'prod', clusterArn: CLUSTER, serverId: deps.config.deskDomain, fetch: new FakeSts().add(TASK).fetch }),
    });
    deps.store.seed(makeWorkspace('starting', { instanceId: TASK_ARN }, { at: deps.clock.now() }));
    const desk = await startDesk(deps);
    const credentials = await startCredentials();
    const upstream = await startUpstream();
    const files = { settings: join(dir, 'gate', 'settings.json'), token: join(dir, 'tool', 'token') };
    try {
      // Act: the init container, with only what the task definition gives it
      const child = spawn(process.execPath, [bundle], {
        cwd: dir,
        env: {
          PATH: process.env.PATH ?? '',
          AWS_CONTAINER_CREDENTIALS_FULL_URI: `${credentials.url}/v2/credentials/task`,
          CARREL_GATE_MODE: 'bootstrap',
          CARREL_GATE_BOOTSTRAP_URL: `${desk.url}/api/agent/bootstrap`,
          CARREL_GATE_SERVER_ID: deps.config.deskDomain,
          CARREL_GATE_STS_URL: 'https://sts.eu-west-2.amazonaws.com/',
          CARREL_GATE_STS_REGION: 'eu-west-2',
          CARREL_GATE_SETTINGS_FILE: files.settings,
          CARREL_GATE_TOOL_TOKEN_FILE: files.token,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const output: string[] = [];
      child.stdout.on('data', (c: Buffer) => output.push(c.toString()));
      child.stderr.on('data', (c: Buffer) => output.push(c.toString()));
      const [code] = (await once(child, 'exit')) as [number];
      assert.equal(code, 0, output.join(''));
      // Then the gate container, with its task-definition environment and the settings file
      const gate = await startGateProcess([bundle], {
        CARREL_GATE_PORT: '0',
        CARREL_GATE_LISTEN_HOST: '127.0.0.1',
        CARREL_GATE_UPSTREAM: upstream.url,
        CARREL_GATE_DESK_ORIGIN: `https://${deps.config.deskDomain}`,
        CARREL_GATE_ACTIVITY_URL: `${desk.url}/api/agent/activity`,
        CARREL_GATE_SETTINGS_FILE: files.settings,
      });
      try {
        const health = await request(gate.port, '/__carrel/health');

        // Assess
        assert.equal(health.status, 200);
        const token = await readFile(files.token, 'utf8');
        assert.ok(upstream.seen.some((r) => r.headers.authorization === `token ${token}`), 'the gate injects the token the tool reads');
        assert.ok(!output.join('').includes(token) && !gate.output.join('').includes(token), 'no token in either log');
      } finally {
        await gate.stop();
      }
    } finally {
      await desk.close();
      await credentials.close();
      await upstream.close();
    }
  });
});
