/**
 * The DynamoDB adapters against dynalite: conditional writes, the one-write touch, the sparse indexes
 * (byInstance, byDue across shards) and the catalog. An operation counter on the client proves what
 * each access pattern costs and that nothing ever Scans.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { ProvisionedThroughputExceededException, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { TransientError } from '../../lambdas/core/errors.js';
import type { Workspace, WorkspaceState } from '../../lambdas/core/workspace.js';
import { destroyClients, localAwsOptions } from '../../lambdas/adapters/aws/clients/base.js';
import { dynamoDocumentClient } from '../../lambdas/adapters/aws/clients/dynamodb.js';
import { DynamoAnalysisCatalog } from '../../lambdas/adapters/aws/dynamo-catalog.js';
import { DynamoWorkspaceStore, dueShardOf, workspaceItemKey } from '../../lambdas/adapters/aws/dynamo-store.js';
import { countOperations, type OperationCounter } from '../../lambdas/adapters/aws/operation-counter.js';
import { createTable } from '../../lambdas/adapters/aws/create-table.js';
import { DUE_SHARDS } from '../../lambdas/adapters/aws/table-schema.js';
import { startDynalite, type TestDynamo } from '../support/dynalite.js';

let dynamo: TestDynamo;
let store: DynamoWorkspaceStore;
let ops: OperationCounter;
/** Counts every operation of the whole file, never reset: the no-Scan proof. */
let allOps: OperationCounter;
let seq = 0;

before(async () => {
  dynamo = await startDynalite();
  store = new DynamoWorkspaceStore(dynamo.doc, dynamo.tableName);
  allOps = countOperations(dynamo.client);
  ops = countOperations(dynamo.doc);
});

after(async () => {
  await dynamo.close();
});

beforeEach(() => ops.reset());

/** A record with a unique key, so tests do not see each other's records. */
function workspace(overrides: Partial<Workspace> = {}): Workspace {
  seq++;
  const ws: Record<string, unknown> = {
    analysisId: `analysis-${seq}`,
    userId: `user-${seq}`,
    workspaceId: `wsid-${seq}`,
    state: 'starting',
    generation: 1,
    version: 1,
    tool: 'jupyter',
    size: 'small',
    hostLabel: `ws-label${seq}`,
    createdAt: '2030-01-01T00:00:00.000Z',
    stateEnteredAt: '2030-01-01T00:00:00.000Z',
    deadlineAt: '2030-01-01T00:05:00.000Z',
    dueAt: '2030-01-01T00:05:00.000Z',
    ...overrides,
  };
  // An unset optional field is absent, as in the records core builds and the store returns.
  for (const [name, value] of Object.entries(ws)) if (value === undefined) delete ws[name];
  return ws as unknown as Workspace;
}

async function rawItem(ws: Pick<Workspace, 'analysisId' | 'userId'>) {
  const out = await dynamo.doc.send(new GetCommand({ TableName: dynamo.tableName, Key: workspaceItemKey(ws), ConsistentRead: true }));
  return out.Item;
}

describe('DynamoWorkspaceStore', () => {
  test('put then get returns the same record, stored under its keys with internal attributes stripped', async () => {
    // Prepare
    const ws = workspace({ instanceId: 'i-roundtrip', address: '10.0.0.1:8443', resumed: false });

    // Act
    const written = await store.put(ws, null);
    ops.reset();
    const read = await store.get(ws);

    // Assess
    assert.equal(written, true);
    assert.deepEqual(read, ws);
    assert.deepEqual(ops.snapshot(), { GetItem: 1 }, 'a status read is exactly one GetItem');
    const item = await rawItem(ws);
    assert.equal(item?.pk, `ANALYSIS#${ws.analysisId}`);
    assert.equal(item?.sk, `WS#${ws.userId}`);
    assert.equal(item?.dueShard, dueShardOf(ws));
    assert.match(String(item?.dueShard), /^DUE#\d+$/);
  });

  test('get of a record that does not exist is undefined', async () => {
    // Prepare
    const ws = workspace();

    // Act
    const read = await store.get(ws);

    // Assess
    assert.equal(read, undefined);
  });

  test('a conditional create succeeds once; the second create loses and changes nothing', async () => {
    // Prepare
    const first = workspace();
    const second = { ...first, workspaceId: 'someone-else', hostLabel: 'ws-other' };

    // Act
    const firstWon = await store.put(first, null);
    const secondWon = await store.put(second, null);

    // Assess
    assert.equal(firstWon, true);
    assert.equal(secondWon, false);
    assert.deepEqual(await store.get(first), first);
  });

  test('a write with a stale version loses; a write with the current version wins', async () => {
    // Prepare
    const v1 = workspace();
    await store.put(v1, null);
    const v2: Workspace = { ...v1, state: 'provisioning', version: 2 };
    await store.put(v2, 1);
    const stale: Workspace = { ...v1, state: 'failed', version: 2, reason: 'stale writer', dueAt: undefined };

    // Act
    const staleWon = await store.put(stale, 1);
    const currentWon = await store.put({ ...v2, state: 'ready', version: 3 }, 2);

    // Assess
    assert.equal(staleWon, false);
    assert.equal(currentWon, true);
    const stored = await store.get(v1);
    assert.equal(stored?.state, 'ready');
    assert.equal(stored?.version, 3);
    assert.equal(stored?.reason, undefined);
  });

  test('an update of a record that does not exist loses', async () => {
    // Prepare
    const ws = workspace({ version: 2 });

    // Act
    const won = await store.put(ws, 1);

    // Assess
    assert.equal(won, false);
    assert.equal(await store.get(ws), undefined);
  });

  test('a record without dueAt or instanceId has neither index attribute (it leaves both indexes)', async () => {
    // Prepare
    const ws = workspace({ state: 'ready', instanceId: 'i-leaves', dueAt: '2030-01-01T00:30:00.000Z' });
    await store.put(ws, null);
    const failed: Workspace = { ...ws, state: 'failed', version: 2, reason: 'boom', instanceId: undefined, dueAt: undefined, deadlineAt: undefined };

    // Act
    await store.put(failed, 1);

    // Assess
    const item = await rawItem(ws);
    assert.ok(item);
    assert.equal('dueAt' in item, false);
    assert.equal('dueShard' in item, false);
    assert.equal('instanceId' in item, false);
    assert.equal(await store.findByInstance('i-leaves'), undefined);
  });

  test('touch on a ready record is one UpdateItem that bumps the version and moves dueAt', async () => {
    // Prepare
    const ws = workspace({ state: 'ready', version: 4, lastActivityAt: '2030-01-01T00:00:00.000Z', dueAt: '2030-01-01T00:30:00.000Z', deadlineAt: undefined });
    await store.put(ws, null);
    ops.reset();

    // Act
    const touched = await store.touch(ws, { at: '2030-01-01T00:10:00.000Z', dueAt: '2030-01-01T00:40:00.000Z' });

    // Assess
    assert.deepEqual(ops.snapshot(), { UpdateItem: 1 }, 'a heartbeat is exactly one write and no read');
    assert.deepEqual(touched, { ...ws, version: 5, lastActivityAt: '2030-01-01T00:10:00.000Z', dueAt: '2030-01-01T00:40:00.000Z' });
    assert.deepEqual(await store.get(ws), touched);
    assert.equal((await rawItem(ws))?.dueShard, dueShardOf(ws));
  });

  test('touch on a record that has left the due index puts it back with its shard', async () => {
    // Prepare: a ready record written without dueAt (not what core writes, but touch must not depend on it)
    const ws = workspace({ state: 'ready', dueAt: undefined, deadlineAt: undefined });
    await store.put(ws, null);

    // Act
    await store.touch(ws, { at: '2030-01-01T00:10:00.000Z', dueAt: '2000-01-01T00:40:00.000Z' });

    // Assess
    assert.equal((await rawItem(ws))?.dueShard, dueShardOf(ws));
    const due = await store.findDue('2000-01-01T00:40:00.000Z', 100);
    assert.ok(due.some((d) => d.workspaceId === ws.workspaceId));
  });

  for (const state of ['starting', 'provisioning', 'stopping', 'stopped', 'failed'] as WorkspaceState[]) {
    test(`touch on a ${state} record returns undefined and writes nothing`, async () => {
      // Prepare
      const ws = workspace({ state, version: 3 });
      await store.put(ws, null);

      // Act
      const touched = await store.touch(ws, { at: '2030-01-01T00:10:00.000Z', dueAt: '2030-01-01T00:40:00.000Z' });

      // Assess
      assert.equal(touched, undefined);
      assert.deepEqual(await store.get(ws), ws);
    });
  }

  test('touch on a record that does not exist returns undefined and creates nothing', async () => {
    // Prepare
    const ws = workspace();

    // Act
    const touched = await store.touch(ws, { at: '2030-01-01T00:10:00.000Z', dueAt: '2030-01-01T00:40:00.000Z' });

    // Assess
    assert.equal(touched, undefined);
    assert.equal(await rawItem(ws), undefined);
  });

  test('touch with the wrong workspaceId or generation returns undefined and writes nothing; the right ones win', async () => {
    // Prepare
    const ws = workspace({ state: 'ready', generation: 3, version: 7 });
    await store.put(ws, null);
    const activity = { at: '2030-01-01T00:10:00.000Z', dueAt: '2030-01-01T00:40:00.000Z' };

    // Act
    const wrongId = await store.touch(ws, { ...activity, workspaceId: 'not-this-one', generation: 3 });
    const wrongGeneration = await store.touch(ws, { ...activity, workspaceId: ws.workspaceId, generation: 2 });
    const afterWrong = await store.get(ws);
    const right = await store.touch(ws, { ...activity, workspaceId: ws.workspaceId, generation: 3 });

    // Assess
    assert.equal(wrongId, undefined);
    assert.equal(wrongGeneration, undefined);
    assert.deepEqual(afterWrong, ws);
    assert.equal(right?.version, 8);
    assert.equal(right?.lastActivityAt, activity.at);
  });

  test('findByInstance finds the record that owns the instance, and nothing for an unknown one', async () => {
    // Prepare
    const a = workspace({ state: 'provisioning', instanceId: 'i-aaa' });
    const b = workspace({ state: 'ready', instanceId: 'i-bbb' });
    await store.put(a, null);
    await store.put(b, null);
    ops.reset();

    // Act
    const foundA = await store.findByInstance('i-aaa');
    const foundB = await store.findByInstance('i-bbb');
    const unknown = await store.findByInstance('i-none');

    // Assess
    assert.deepEqual(foundA, a);
    assert.deepEqual(foundB, b);
    assert.equal(unknown, undefined);
    assert.deepEqual(ops.snapshot(), { Query: 3, GetItem: 2 }, 'one index Query, plus one consistent GetItem when found');
  });

  test('findByInstance returns the current generation of a resumed record (same instance id)', async () => {
    // Prepare
    const stopped = workspace({ state: 'stopped', instanceId: 'i-resume', generation: 1 });
    await store.put(stopped, null);
    const resumed: Workspace = { ...stopped, state: 'starting', generation: 2, version: 2, resumed: true };
    await store.put(resumed, 1);

    // Act
    const found = await store.findByInstance('i-resume');

    // Assess
    assert.deepEqual(found, resumed);
  });
});

describe('DynamoWorkspaceStore.findDue', () => {
  const now = '2001-01-01T12:00:00.000Z';
  let expected: Workspace[];
  // A table of its own, so records of other tests never show up among the candidates.
  let store: DynamoWorkspaceStore;

  before(async () => {
    await createTable(dynamo.client, 'carrel-due');
    store = new DynamoWorkspaceStore(dynamo.doc, 'carrel-due');
    const past = (minutes: number) => new Date(Date.parse(now) - minutes * 60_000).toISOString();
    const future = (minutes: number) => new Date(Date.parse(now) + minutes * 60_000).toISOString();
    const dueOnes = [
      workspace({ state: 'ready', dueAt: past(30), deadlineAt: undefined }),
      workspace({ state: 'starting', dueAt: past(1) }),
      workspace({ state: 'stopped', dueAt: past(600), deadlineAt: undefined }),
      workspace({ state: 'provisioning', dueAt: now }), // exactly now counts as due
      workspace({ state: 'stopping', dueAt: past(5) }),
      workspace({ state: 'terminating', dueAt: past(45) }),
      workspace({ state: 'ready', dueAt: past(2), deadlineAt: undefined }),
      workspace({ state: 'starting', dueAt: past(90) }),
    ];
    const notDue = [
      workspace({ state: 'ready', dueAt: future(1), deadlineAt: undefined }),
      workspace({ state: 'starting', dueAt: '2001-01-01T12:00:00.001Z' }),
      workspace({ state: 'terminated', dueAt: undefined, deadlineAt: undefined }),
      workspace({ state: 'failed', dueAt: undefined, deadlineAt: undefined, reason: 'boom' }),
    ];
    for (const ws of [...dueOnes, ...notDue]) assert.equal(await store.put(ws, null), true);
    expected = [...dueOnes].sort((a, b) => String(a.dueAt).localeCompare(String(b.dueAt)));
  });

  test('the due records span several shards (so the test exercises the merge)', () => {
    // Prepare / Act
    const shards = new Set(expected.map((ws) => dueShardOf(ws)));

    // Assess
    assert.ok(DUE_SHARDS > 1);
    assert.ok(shards.size >= 2, `due records fall in ${shards.size} shard(s)`);
  });

  test('returns exactly the records due at or before now, oldest first, with one Query per shard', async () => {
    // Prepare
    ops.reset();

    // Act
    const due = await store.findDue(now, 100);

    // Assess
    assert.deepEqual(due, expected);
    assert.deepEqual(ops.snapshot(), { Query: DUE_SHARDS });
  });

  test('a limit keeps the oldest records across all shards', async () => {
    // Prepare
    const limit = 3;

    // Act
    const due = await store.findDue(now, limit);

    // Assess
    assert.deepEqual(due, expected.slice(0, limit));
  });

  test('nothing is due before the oldest record', async () => {
    // Prepare
    const beforeAll = new Date(Date.parse(String(expected[0]?.dueAt)) - 1).toISOString();

    // Act
    const due = await store.findDue(beforeAll, 100);

    // Assess
    assert.deepEqual(due, []);
  });

  test('a record that stops being due (failed, no dueAt) leaves the candidates', async () => {
    // Prepare
    const leaving = expected[expected.length - 1] as Workspace;
    const { dueAt: _dueAt, deadlineAt: _deadlineAt, ...rest } = leaving;
    const failed: Workspace = { ...rest, state: 'failed', version: leaving.version + 1, reason: 'gone' };

    // Act
    await store.put(failed, leaving.version);
    const due = await store.findDue(now, 100);

    // Assess
    assert.deepEqual(due, expected.slice(0, -1));
  });
});

describe('DynamoAnalysisCatalog', () => {
  let catalog: DynamoAnalysisCatalog;
  const alice = { userId: 'alice', roles: [] };
  const bob = { userId: 'bob', roles: [] };
  const carol = { userId: 'carol', roles: [] };

  before(async () => {
    catalog = new DynamoAnalysisCatalog(dynamo.doc, dynamo.tableName);
    await catalog.putAnalysis({ analysisId: 'demo', title: 'Demo analysis', members: ['alice', 'bob'], tool: 'jupyter', size: 'small' });
    await catalog.putAnalysis({ analysisId: 'census-2021', title: 'Census 2021', members: ['bob'], tool: 'rstudio', size: 'large' });
  });

  test('get returns the analysis with its members; an unknown one is undefined', async () => {
    // Prepare
    ops.reset();

    // Act
    const demo = await catalog.get('demo', alice);
    const unknown = await catalog.get('nope', alice);

    // Assess
    assert.deepEqual(demo, { analysisId: 'demo', title: 'Demo analysis', members: ['alice', 'bob'], tool: 'jupyter', size: 'small' });
    assert.equal(unknown, undefined);
    assert.deepEqual(ops.snapshot(), { GetItem: 2 });
  });

  test('listFor returns the analyses the user is a member of, with one Query', async () => {
    // Prepare
    ops.reset();

    // Act
    const forAlice = await catalog.listFor(alice);
    const forBob = await catalog.listFor(bob);
    const forCarol = await catalog.listFor(carol);

    // Assess
    assert.deepEqual(forAlice.map((a) => a.analysisId), ['demo']);
    assert.deepEqual(forBob.map((a) => a.analysisId), ['census-2021', 'demo']);
    assert.deepEqual(forBob.find((a) => a.analysisId === 'census-2021'), { analysisId: 'census-2021', title: 'Census 2021', members: ['bob'], tool: 'rstudio', size: 'large' });
    assert.deepEqual(forCarol, []);
    assert.deepEqual(ops.snapshot(), { Query: 3 });
  });

  test('putAnalysis again moves membership: removed members lose it, new members gain it', async () => {
    // Prepare
    await catalog.putAnalysis({ analysisId: 'moving', title: 'Moving', members: ['alice', 'bob'], tool: 'jupyter', size: 'small' });

    // Act
    await catalog.putAnalysis({ analysisId: 'moving', title: 'Moving on', members: ['bob', 'carol'], tool: 'jupyter', size: 'small' });

    // Assess
    assert.deepEqual((await catalog.get('moving', alice))?.members, ['bob', 'carol']);
    assert.equal((await catalog.listFor(alice)).some((a) => a.analysisId === 'moving'), false);
    assert.equal((await catalog.listFor(bob)).find((a) => a.analysisId === 'moving')?.title, 'Moving on');
    assert.equal((await catalog.listFor(carol)).some((a) => a.analysisId === 'moving'), true);
  });

  test('putUser then getUser returns the name and roles; an unknown user is undefined', async () => {
    // Prepare
    await catalog.putUser({ userId: 'rita', name: 'Rita Reviewer', roles: ['reviewer'] });

    // Act
    const rita = await catalog.getUser('rita');
    const nobody = await catalog.getUser('nobody');

    // Assess
    assert.deepEqual(rita, { userId: 'rita', name: 'Rita Reviewer', roles: ['reviewer'] });
    assert.equal(nobody, undefined);
  });

  test('catalog items never enter the workspace indexes', async () => {
    // Prepare / Act
    const due = await store.findDue('9999-12-31T23:59:59.999Z', 1000);

    // Assess
    assert.equal(due.every((ws) => typeof ws.workspaceId === 'string' && typeof ws.state === 'string'), true);
  });
});

describe('createTable', () => {
  test('is idempotent: creating an existing table succeeds and keeps its items', async () => {
    // Prepare
    const ws = workspace();
    await store.put(ws, null);

    // Act
    await createTable(dynamo.client, dynamo.tableName);

    // Assess
    assert.deepEqual(await store.get(ws), ws);
  });
});

describe('errors', () => {
  // A separate client (its own endpoint key), mocked per instance so the dynalite client is untouched.
  const aws = localAwsOptions('http://127.0.0.1:9');
  const doc = dynamoDocumentClient(aws);
  const mocked = mockClient(doc);
  const failing = new DynamoWorkspaceStore(doc, 'any');

  after(() => {
    mocked.restore();
    destroyClients(aws);
  });
  beforeEach(() => mocked.reset());

  test('throttling becomes a TransientError carrying the SDK error as its cause', async () => {
    // Prepare
    const throttled = new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: { httpStatusCode: 400 } });
    mocked.on(GetCommand).rejects(throttled);

    // Act
    const error = await failing.get({ analysisId: 'a', userId: 'u' }).then(
      () => undefined,
      (e: unknown) => e,
    );

    // Assess
    assert.ok(error instanceof TransientError, `got ${String(error)}`);
    assert.equal(error.cause, throttled);
  });

  test('a service 5xx becomes a TransientError', async () => {
    // Prepare
    const serverError = Object.assign(new Error('internal'), { name: 'InternalServerError', $fault: 'server', $metadata: { httpStatusCode: 500 } });
    mocked.rejects(serverError);

    // Act / Assess
    await assert.rejects(failing.touch({ analysisId: 'a', userId: 'u' }, { at: 'x', dueAt: 'y' }), TransientError);
  });

  test('other errors propagate unchanged', async () => {
    // Prepare
    const invalid = new ResourceNotFoundException({ message: 'no such table', $metadata: { httpStatusCode: 400 } });
    mocked.rejects(invalid);

    // Act / Assess
    await assert.rejects(failing.put(workspace(), null), (error) => error === invalid);
  });
});

test('no operation in this file was a Scan', () => {
  // Prepare / Act
  const counts = allOps.snapshot();

  // Assess
  assert.ok(allOps.total() > 20, 'the counter saw the operations of this file');
  assert.equal(counts.Scan, undefined);
});
