import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { signIdentityRequest } from '../../assets/gate/bootstrap.js';
import { homeRoleName } from '../../lambdas/adapters/aws/iam-home-roles.js';
import { StsTaskIdentity } from '../../lambdas/adapters/aws/sts-task-identity.js';
import type { Workspace } from '../../lambdas/core/index.js';
import { makeAgentBootstrapHandler } from '../../lambdas/handlers/app.js';
import type { HttpResult } from '../../lambdas/handlers/http.js';
import { HTTP_ROUTES } from '../../lambdas/handlers/routes.js';
import { FakeSts, taskCredentials, type FakeTask } from '../support/fake-sts.js';
import { makeWorkspace } from '../support/fakes.js';
import { bodyOf, httpEvent, makeAppDeps, type TestDeps } from './support.js';

const CLUSTER = 'arn:aws:ecs:eu-west-2:123456789012:cluster/carrel-prod-workspaces';
const TASK_ARN = (id: string) => `arn:aws:ecs:eu-west-2:123456789012:task/carrel-prod-workspaces/${id}`;
const ALICE_TASK = '0123456789abcdef0123456789abcdef';
const BOB_TASK = 'fedcba9876543210fedcba9876543210';
const ROLE = (userId: string) => homeRoleName('prod', { analysisId: 'demo', userId });
const ROUTE = 'POST /api/agent/bootstrap';

async function setup(options: { state?: Workspace['state']; taskRole?: string; withIdentity?: boolean } = {}) {
  const deps = await makeAppDeps();
  const sts = new FakeSts();
  const alice = taskCredentials(1, `arn:aws:sts::123456789012:assumed-role/${options.taskRole ?? ROLE('alice')}/${ALICE_TASK}`);
  const bob = taskCredentials(2, `arn:aws:sts::123456789012:assumed-role/${ROLE('bob')}/${BOB_TASK}`);
  sts.add(alice).add(bob);
  const ws = makeWorkspace(options.state ?? 'starting', { instanceId: TASK_ARN(ALICE_TASK), generation: 3 }, { at: deps.clock.now() });
  deps.store.seed(ws, makeWorkspace('ready', { userId: 'bob', workspaceId: 'wsbob000000000000000', hostLabel: 'ws-boblabel', instanceId: TASK_ARN(BOB_TASK) }));
  const taskIdentity = new StsTaskIdentity({ deploymentId: 'prod', clusterArn: CLUSTER, serverId: deps.config.deskDomain, fetch: sts.fetch });
  const withIdentity: TestDeps = options.withIdentity === false ? deps : Object.assign(deps, { taskIdentity });
  return { deps: withIdentity, sts, alice, bob, ws };
}

async function proofOf(deps: TestDeps, task: FakeTask, serverId = deps.config.deskDomain) {
  return signIdentityRequest(
    { stsUrl: new URL('https://sts.eu-west-2.amazonaws.com/'), stsRegion: 'eu-west-2', serverId },
    async () => ({ accessKeyId: task.accessKeyId, secretAccessKey: task.secretAccessKey, sessionToken: task.sessionToken }),
  );
}

function call(deps: TestDeps, body: unknown): Promise<HttpResult> {
  return makeAgentBootstrapHandler(deps)(httpEvent(ROUTE, { body }));
}

function assertRefused(result: HttpResult, status: number, pattern: RegExp) {
  assert.equal(result.statusCode, status, result.body);
  assert.match(bodyOf(result).error.message, pattern);
}

describe('POST /api/agent/bootstrap', () => {
  it('is one route of the table, authenticated by the task identity', () => {
    // Assess
    assert.deepEqual(
      HTTP_ROUTES.find((r) => r.entry === 'agent-bootstrap'),
      { method: 'POST', path: '/api/agent/bootstrap', entry: 'agent-bootstrap', auth: 'task-identity' },
    );
  });

  it('answers a task with its own workspace’s hostname, the desk’s public key and an agent token for that generation', async () => {
    // Prepare
    const { deps, alice, ws } = await setup();
    const proof = await proofOf(deps, alice);

    // Act
    const result = await call(deps, { request: proof });

    // Assess
    assert.equal(result.statusCode, 200, result.body);
    const answer = bodyOf(result);
    assert.deepEqual(Object.keys(answer).sort(), ['CARREL_GATE_AGENT_TOKEN', 'CARREL_GATE_HOSTNAME', 'CARREL_GATE_HOST_LABEL', 'CARREL_GATE_PUBLIC_KEY']);
    assert.equal(answer.CARREL_GATE_HOSTNAME, `${ws.hostLabel}.${deps.config.deskDomain}`);
    assert.equal(answer.CARREL_GATE_HOST_LABEL, ws.hostLabel);
    assert.equal(answer.CARREL_GATE_PUBLIC_KEY, await deps.signer.publicKeyPem());
    const claims = await deps.verifier.verifyAgentToken(answer.CARREL_GATE_AGENT_TOKEN, deps.clock.now());
    assert.deepEqual(claims, { analysisId: 'demo', userId: 'alice', workspaceId: ws.workspaceId, generation: 3 });
    assert.equal(result.headers?.['cache-control'], 'no-store');
  });

  it('gives each task its own settings only: bob’s task gets bob’s workspace', async () => {
    // Prepare
    const { deps, bob } = await setup();

    // Act
    const result = await call(deps, { request: await proofOf(deps, bob) });

    // Assess
    assert.equal(result.statusCode, 200, result.body);
    assert.equal(bodyOf(result).CARREL_GATE_HOST_LABEL, 'ws-boblabel');
    assert.equal((await deps.verifier.verifyAgentToken(bodyOf(result).CARREL_GATE_AGENT_TOKEN, deps.clock.now())).userId, 'bob');
  });

  it('refuses a task that runs as another role (e.g. another home’s): 403', async () => {
    // Prepare
    const { deps, alice } = await setup({ taskRole: ROLE('bob') });

    // Act
    const result = await call(deps, { request: await proofOf(deps, alice) });

    // Assess
    assertRefused(result, 403, new RegExp(`runs as role ${ROLE('bob')}, not as its workspace's role ${ROLE('alice')}`));
  });

  it('answers 404 for a task no workspace record names (yet): the bootstrap step retries', async () => {
    // Prepare
    const { deps, sts } = await setup();
    const stranger = taskCredentials(3, `arn:aws:sts::123456789012:assumed-role/${ROLE('alice')}/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`);
    sts.add(stranger);

    // Act
    const result = await call(deps, { request: await proofOf(deps, stranger) });

    // Assess
    assertRefused(result, 404, /No workspace of this desk runs as this task/);
  });

  for (const state of ['stopped', 'failed', 'terminated'] as const) {
    it(`refuses the task of a workspace that is ${state}: 409`, async () => {
      // Prepare
      const { deps, alice } = await setup({ state });

      // Act
      const result = await call(deps, { request: await proofOf(deps, alice) });

      // Assess
      assertRefused(result, 409, new RegExp(`The workspace is ${state}`));
    });
  }

  it('refuses a request signed for another desk: 401, and asks STS nothing', async () => {
    // Prepare
    const { deps, alice, sts } = await setup();

    // Act
    const result = await call(deps, { request: await proofOf(deps, alice, 'desk.other.example') });

    // Assess
    assertRefused(result, 401, /meant for another server/);
    assert.equal(sts.calls.length, 0);
  });

  it('refuses a tampered request (signed for one desk, relabelled for this one): 401 from STS', async () => {
    // Prepare
    const { deps, alice } = await setup();
    const proof = await proofOf(deps, alice, 'desk.other.example');

    // Act
    const result = await call(deps, { request: { ...proof, headers: { ...proof.headers, 'x-carrel-server-id': deps.config.deskDomain } } });

    // Assess
    assertRefused(result, 401, /SignatureDoesNotMatch/);
  });

  it('answers 503 with retry-after when STS cannot answer', async () => {
    // Prepare
    const { deps, alice } = await setup();
    const down = new StsTaskIdentity({ deploymentId: 'prod', clusterArn: CLUSTER, serverId: deps.config.deskDomain, fetch: (async () => new Response('', { status: 503 })) as typeof fetch });

    // Act
    const result = await call(Object.assign(deps, { taskIdentity: down }), { request: await proofOf(deps, alice) });

    // Assess
    assertRefused(result, 503, /STS could not check/);
    assert.equal(result.headers?.['retry-after'], '5');
  });

  for (const [what, body, pattern] of [
    ['no body', undefined, /body/],
    ['a body without the request', { proof: {} }, /body/],
    ['a request with a non-text header', { request: { url: 'https://sts.eu-west-2.amazonaws.com/', body: 'x', headers: { a: 1 } } }, /body\.request\.headers/],
  ] as const) {
    it(`refuses ${what}: 400, asks STS nothing`, async () => {
      // Prepare
      const { deps, sts } = await setup();

      // Act
      const result = await call(deps, body);

      // Assess
      assertRefused(result, 400, pattern);
      assert.equal(sts.calls.length, 0);
    });
  }

  it('answers 404 where there are no Fargate workspaces (no task identity)', async () => {
    // Prepare
    const { deps, alice } = await setup({ withIdentity: false });

    // Act
    const result = await call(deps, { request: await proofOf(deps, alice) });

    // Assess
    assertRefused(result, 404, /no Fargate workspaces/);
  });

  it('never logs the agent token or the signature', async () => {
    // Prepare
    const { deps, alice } = await setup();
    const lines: string[] = [];
    const log = { info: (m: string, d?: object) => lines.push(m + JSON.stringify(d)), warn: (m: string, d?: object) => lines.push(m + JSON.stringify(d)), error: (m: string, d?: object) => lines.push(m + JSON.stringify(d)) };
    const proof = await proofOf(deps, alice);

    // Act
    const result = await call(Object.assign(deps, { log }), { request: proof });

    // Assess
    assert.equal(result.statusCode, 200);
    const text = lines.join('\n');
    assert.ok(lines.some((l) => l.startsWith('workspace bootstrap answered')));
    assert.ok(!text.includes(bodyOf(result).CARREL_GATE_AGENT_TOKEN));
    assert.ok(!text.includes(proof.headers.authorization!.split('Signature=')[1]!));
    assert.ok(!text.includes(alice.sessionToken));
  });
});
