/**
 * Core's openWorkspace on the real DynamoDB store (dynalite): however many tabs or retries open a
 * workspace at once, exactly one launch (or one resume) happens, and everyone sees the same record.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_POLICY,
  NotAllowedError,
  handleComputeEvent,
  openWorkspace,
  silentLog,
  stopWorkspace,
  type ComputePort,
  type HomeRef,
  type HomesPort,
  type HostnamesPort,
  type InstanceView,
  type LaunchRequest,
  type User,
  type Workspace,
  type WorkspaceDeps,
  type WorkspaceKey,
} from '../../lambdas/core/index.js';
import { DynamoAnalysisCatalog } from '../../lambdas/adapters/aws/dynamo-catalog.js';
import { DynamoWorkspaceStore } from '../../lambdas/adapters/aws/dynamo-store.js';
import { countOperations, type OperationCounter } from '../../lambdas/adapters/aws/operation-counter.js';
import { startDynalite, type TestDynamo } from '../support/dynalite.js';

/** Counts every call; launches yield to the event loop so concurrent openers really interleave. */
class CountingCompute implements ComputePort {
  readonly launches: LaunchRequest[] = [];
  readonly starts: { instanceId: string; generation: number }[] = [];
  readonly stops: string[] = [];
  readonly terminates: string[] = [];

  async launch(request: LaunchRequest) {
    this.launches.push(request);
    await new Promise((resolve) => setTimeout(resolve, 5));
    return { instanceId: `i-${this.launches.length}` };
  }
  async start(instanceId: string, workspace: Workspace) {
    this.starts.push({ instanceId, generation: workspace.generation });
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  async stop(instanceId: string) {
    this.stops.push(instanceId);
  }
  async terminate(instanceId: string) {
    this.terminates.push(instanceId);
  }
  async listTagged(): Promise<readonly InstanceView[]> {
    return [];
  }
}

class CountingHomes implements HomesPort {
  readonly ensured: WorkspaceKey[] = [];
  async ensure(key: WorkspaceKey): Promise<HomeRef> {
    this.ensured.push(key);
    return { homeId: `home-${key.analysisId}-${key.userId}`, created: this.ensured.length === 1 };
  }
}

class CountingHostnames implements HostnamesPort {
  readonly deskDomain = 'desk.test';
  readonly assigned = new Map<string, string>();
  readonly released: string[] = [];
  async assign(hostname: string, address: string) {
    this.assigned.set(hostname, address);
  }
  async release(hostname: string) {
    this.released.push(hostname);
    this.assigned.delete(hostname);
  }
  async list() {
    return [...this.assigned.keys()];
  }
}

const alice: User = { userId: 'alice', roles: [] };
const bob: User = { userId: 'bob', roles: [] };
const mallory: User = { userId: 'mallory', roles: [] };
const OPENERS = 50;

let dynamo: TestDynamo;
let ops: OperationCounter;

before(async () => {
  dynamo = await startDynalite();
  ops = countOperations(dynamo.client);
  const catalog = new DynamoAnalysisCatalog(dynamo.doc, dynamo.tableName);
  await catalog.putAnalysis({ analysisId: 'demo', title: 'Demo', members: ['alice', 'bob'], tool: 'jupyter', size: 'small' });
  await catalog.putAnalysis({ analysisId: 'census-2021', title: 'Census 2021', members: ['bob'], tool: 'jupyter', size: 'small' });
});

after(async () => {
  await dynamo.close();
});

function makeDeps() {
  const compute = new CountingCompute();
  const homes = new CountingHomes();
  const hostnames = new CountingHostnames();
  const deps: WorkspaceDeps = {
    store: new DynamoWorkspaceStore(dynamo.doc, dynamo.tableName),
    catalog: new DynamoAnalysisCatalog(dynamo.doc, dynamo.tableName),
    compute,
    homes,
    hostnames,
    clock: { now: () => new Date() },
    policy: DEFAULT_POLICY,
    log: silentLog,
    deploymentId: 'test',
  };
  return { deps, compute, homes, hostnames };
}

function concurrently<T>(n: number, run: () => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: n }, run));
}

describe('opening one workspace from many tabs at once', () => {
  const key = { analysisId: 'demo', userId: 'alice' };
  let deps: WorkspaceDeps;
  let compute: CountingCompute;
  let homes: CountingHomes;
  let firstLaunch: Workspace[];

  before(() => {
    ({ deps, compute, homes } = makeDeps());
  });

  test(`${OPENERS} concurrent opens launch exactly once and all see the same workspace`, async () => {
    // Prepare
    assert.equal(await deps.store.get(key), undefined);

    // Act
    firstLaunch = await concurrently(OPENERS, () => openWorkspace(deps, alice, 'demo'));

    // Assess
    assert.equal(compute.launches.length, 1);
    assert.equal(homes.ensured.length, 1);
    assert.equal(new Set(firstLaunch.map((ws) => ws.workspaceId)).size, 1);
    assert.deepEqual(new Set(firstLaunch.map((ws) => ws.generation)), new Set([1]));
    assert.equal(compute.launches[0]?.clientToken, `${firstLaunch[0]?.workspaceId}-1`);
    const stored = await deps.store.get(key);
    assert.equal(stored?.state, 'starting');
    assert.equal(stored?.instanceId, 'i-1');
    assert.equal(stored?.workspaceId, firstLaunch[0]?.workspaceId);
  });

  test(`after a stop, ${OPENERS} concurrent opens resume exactly once and launch nothing new`, async () => {
    // Prepare: the instance runs, the tool answers, then the workspace is stopped
    const running = await handleComputeEvent(deps, { kind: 'running', instanceId: 'i-1', address: '127.0.0.1:9001' });
    const ready = await handleComputeEvent(deps, { kind: 'tool-ready', instanceId: 'i-1' });
    await stopWorkspace(deps, key, 'test stop');
    const stopped = await handleComputeEvent(deps, { kind: 'stopped', instanceId: 'i-1' });
    assert.deepEqual([running.state, ready.state, stopped.state], ['provisioning', 'ready', 'stopped']);
    assert.deepEqual(compute.stops, ['i-1']);

    // Act
    const reopened = await concurrently(OPENERS, () => openWorkspace(deps, alice, 'demo'));

    // Assess
    assert.equal(compute.starts.length, 1);
    assert.deepEqual(compute.starts[0], { instanceId: 'i-1', generation: 2 });
    assert.equal(compute.launches.length, 1, 'no new launch');
    assert.equal(new Set(reopened.map((ws) => ws.workspaceId)).size, 1);
    assert.equal(reopened[0]?.workspaceId, firstLaunch[0]?.workspaceId);
    assert.deepEqual(new Set(reopened.map((ws) => ws.generation)), new Set([2]));
    const stored = await deps.store.get(key);
    assert.equal(stored?.state, 'starting');
    assert.equal(stored?.resumed, true);
    assert.equal(stored?.instanceId, 'i-1');
  });
});

describe('different researchers opening the same analysis at once', () => {
  test('each gets their own workspace: one launch per researcher', async () => {
    // Prepare
    const { deps, compute } = makeDeps();

    // Act
    const opened = await Promise.all([
      ...Array.from({ length: OPENERS / 2 }, () => openWorkspace(deps, bob, 'demo')),
      ...Array.from({ length: OPENERS / 2 }, () => openWorkspace(deps, bob, 'census-2021')),
    ]);

    // Assess
    assert.equal(compute.launches.length, 2);
    assert.deepEqual(new Set(compute.launches.map((l) => `${l.workspace.analysisId}/${l.workspace.userId}`)), new Set(['demo/bob', 'census-2021/bob']));
    assert.equal(new Set(opened.map((ws) => ws.workspaceId)).size, 2);
  });
});

describe('opening without being a member', () => {
  for (const [who, analysisId] of [
    [mallory, 'demo'],
    [alice, 'census-2021'],
  ] as const) {
    test(`${who.userId} opening ${analysisId} is not allowed and writes nothing`, async () => {
      // Prepare
      const { deps, compute, homes } = makeDeps();
      ops.reset();

      // Act
      const attempt = openWorkspace(deps, who, analysisId);

      // Assess
      await assert.rejects(attempt, NotAllowedError);
      const counts = ops.snapshot();
      assert.equal(counts.PutItem, undefined);
      assert.equal(counts.UpdateItem, undefined);
      assert.equal(counts.DeleteItem, undefined);
      assert.equal(compute.launches.length, 0);
      assert.equal(homes.ensured.length, 0);
      assert.equal(await deps.store.get({ analysisId, userId: who.userId }), undefined);
    });
  }
});
