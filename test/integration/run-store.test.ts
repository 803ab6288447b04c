/**
 * The enclave run store and audit log against dynalite: conditional run writes, newest-first listing
 * beside the analysis's other items, runs kept out of the workspace indexes, and an audit log that
 * only ever appends. Failure modes with aws-sdk-client-mock.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { ConflictError, TransientError } from '../../lambdas/core/errors.js';
import { newRunId, type AuditEntry, type Run } from '../../lambdas/core/runs/index.js';
import { destroyClients, localAwsOptions } from '../../lambdas/adapters/aws/clients/base.js';
import { dynamoDocumentClient } from '../../lambdas/adapters/aws/clients/dynamodb.js';
import { DynamoAuditLog, DynamoRunStore, runItemKey } from '../../lambdas/adapters/aws/dynamo-run-store.js';
import { DynamoWorkspaceStore } from '../../lambdas/adapters/aws/dynamo-store.js';
import { countOperations, type OperationCounter } from '../../lambdas/adapters/aws/operation-counter.js';
import { startDynalite, type TestDynamo } from '../support/dynalite.js';

let dynamo: TestDynamo;
let runs: DynamoRunStore;
let auditLog: DynamoAuditLog;
let ops: OperationCounter;
let allOps: OperationCounter;
let seq = 0;

before(async () => {
  dynamo = await startDynalite();
  runs = new DynamoRunStore(dynamo.doc, dynamo.tableName);
  auditLog = new DynamoAuditLog(dynamo.doc, dynamo.tableName);
  allOps = countOperations(dynamo.client);
  ops = countOperations(dynamo.doc);
});
after(async () => {
  assert.equal(allOps.snapshot().Scan ?? 0, 0, 'nothing ever Scans');
  await dynamo.close();
});
beforeEach(() => ops.reset());

function run(overrides: Partial<Run> = {}): Run {
  seq++;
  return {
    analysisId: `analysis-${seq}`,
    runId: newRunId(new Date(Date.UTC(2030, 0, 1, 9, 0, seq))),
    state: 'code-review',
    version: 1,
    submittedBy: 'alice',
    description: 'first model',
    manifestDigest: 'a'.repeat(64),
    objects: { archiveKey: 'runs/x/home.tar.gz', manifestKey: 'runs/x/manifest.json' },
    decisions: [{ step: 'code-review', reviewerId: 'rita', verdict: 'approve', comment: 'ok', manifestDigest: 'a'.repeat(64), at: '2030-01-01T09:00:00.000Z' }],
    taskToken: 'token',
    createdAt: '2030-01-01T09:00:00.000Z',
    stateEnteredAt: '2030-01-01T09:00:00.000Z',
    deadlineAt: '2030-01-08T09:00:00.000Z',
    ...overrides,
  };
}

describe('DynamoRunStore', () => {
  test('put then get returns the same run (nested decisions and objects included), in one GetItem', async () => {
    // Prepare
    const r = run();
    // Act
    const created = await runs.put(r, null);
    ops.reset();
    const read = await runs.get(r);
    // Assess
    assert.equal(created, true);
    assert.deepEqual(read, r);
    assert.deepEqual(ops.snapshot(), { GetItem: 1 });
  });

  test('create-if-absent and replace-if-version-matches; a lost condition returns false and changes nothing', async () => {
    // Prepare
    const r = run();
    await runs.put(r, null);
    // Act
    const again = await runs.put(r, null);
    const stale = await runs.put({ ...r, version: 2, state: 'building' }, 7);
    const fresh = await runs.put({ ...r, version: 2, state: 'building' }, 1);
    // Assess
    assert.deepEqual([again, stale, fresh], [false, false, true]);
    assert.equal((await runs.get(r))?.state, 'building');
  });

  test('an unset optional field is absent from the item, and run items stay out of the workspace indexes', async () => {
    // Prepare
    const r = run({ state: 'building' });
    delete (r as { taskToken?: string }).taskToken;
    await runs.put(r, null);
    // Act
    const raw = (await dynamo.doc.send(new GetCommand({ TableName: dynamo.tableName, Key: runItemKey(r) }))).Item!;
    const due = await new DynamoWorkspaceStore(dynamo.doc, dynamo.tableName).findDue('2099-01-01T00:00:00.000Z', 100);
    // Assess
    assert.equal('taskToken' in raw, false);
    assert.equal('dueShard' in raw, false);
    assert.equal(raw.type, 'run');
    assert.equal(due.some((w) => (w as unknown as { runId?: string }).runId), false);
  });

  test('lists an analysis\'s runs newest first in one Query, without its other items', async () => {
    // Prepare: three runs of one analysis submitted a minute apart, its workspace, another analysis's run
    const analysisId = 'listed';
    const ids = [0, 1, 2].map((m) => newRunId(new Date(Date.UTC(2030, 0, 1, 9, m))));
    for (const runId of [ids[1]!, ids[0]!, ids[2]!]) await runs.put(run({ analysisId, runId }), null);
    await new DynamoWorkspaceStore(dynamo.doc, dynamo.tableName).put(
      { analysisId, userId: 'alice', workspaceId: 'w', state: 'terminated', generation: 1, version: 1, tool: 'jupyter', size: 'small', createdAt: 'x', stateEnteredAt: 'x' },
      null,
    );
    await runs.put(run(), null);
    ops.reset();
    // Act
    const listed = await runs.listForAnalysis(analysisId, 10);
    const two = await runs.listForAnalysis(analysisId, 2);
    // Assess
    assert.deepEqual(listed.map((r) => r.runId), [ids[2], ids[1], ids[0]]);
    assert.deepEqual(two.map((r) => r.runId), [ids[2], ids[1]]);
    assert.deepEqual(ops.snapshot(), { Query: 2 });
  });
});

describe('DynamoRunStore review queue (byReview)', () => {
  test('lists exactly the runs waiting at a step, oldest first, across analyses, with one Query; a run leaves with the write that moves it on', async () => {
    // Prepare: two waiting for code review (the later first), one for output review, one building
    const later = run({ stateEnteredAt: '2031-05-01T10:00:00.000Z' });
    const earlier = run({ stateEnteredAt: '2031-05-01T09:00:00.000Z' });
    const outputs = run({ state: 'output-review', stateEnteredAt: '2031-05-01T08:00:00.000Z', outputsDigest: 'b'.repeat(64) });
    const building = run({ state: 'building', stateEnteredAt: '2031-05-01T07:00:00.000Z' });
    for (const r of [later, earlier, outputs, building]) assert.equal(await runs.put(r, null), true);
    ops.reset();
    // Act
    const code = (await runs.listWaitingForReview('code-review', 100)).filter((r) => r.stateEnteredAt.startsWith('2031-05-01'));
    const queries = ops.snapshot().Query;
    const out = (await runs.listWaitingForReview('output-review', 100)).filter((r) => r.stateEnteredAt.startsWith('2031-05-01'));
    assert.equal(await runs.put({ ...earlier, state: 'building', version: 2, stateEnteredAt: '2031-05-01T11:00:00.000Z' }, 1), true);
    const afterMove = (await runs.listWaitingForReview('code-review', 100)).filter((r) => r.stateEnteredAt.startsWith('2031-05-01'));
    // Assess
    assert.equal(queries, 1);
    assert.deepEqual(code.map((r) => r.runId), [earlier.runId, later.runId]);
    assert.deepEqual(out.map((r) => r.runId), [outputs.runId]);
    assert.deepEqual(afterMove.map((r) => r.runId), [later.runId]);
    assert.deepEqual(code[1], later, 'the index gives back the whole run, without its index attributes');
    const raw = await dynamo.doc.send(new GetCommand({ TableName: dynamo.tableName, Key: runItemKey(later) }));
    assert.deepEqual([raw.Item?.reviewQueue, raw.Item?.reviewSince], ['code-review', later.stateEnteredAt]);
    const moved = await dynamo.doc.send(new GetCommand({ TableName: dynamo.tableName, Key: runItemKey(earlier) }));
    assert.deepEqual([moved.Item?.reviewQueue, moved.Item?.reviewSince], [undefined, undefined], 'out of the sparse index');
  });

  test('turns throttling on the index into a TransientError', async () => {
    // Prepare
    const mock = mockClient(dynamo.doc);
    mock.on(QueryCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: { httpStatusCode: 400 } }));
    try {
      // Act / Assess
      await assert.rejects(runs.listWaitingForReview('code-review', 10), TransientError);
    } finally {
      mock.restore();
    }
  });
});

describe('DynamoAuditLog', () => {
  const key = { analysisId: 'audited', runId: 'r1' };
  const entry = (entryId: string, at: string, action: AuditEntry['action']): AuditEntry => ({ ...key, entryId, at, actor: 'rita', action, manifestDigest: 'd'.repeat(64) });

  test('appends with one conditional PutItem and lists oldest first', async () => {
    // Prepare
    const second = entry('e2', '2030-01-01T10:00:00.000Z', 'approved');
    const first = entry('e1', '2030-01-01T09:00:00.000Z', 'submitted');
    // Act
    await auditLog.append(second);
    await auditLog.append(first);
    const ops1 = ops.snapshot();
    const listed = await auditLog.list(key);
    // Assess
    assert.deepEqual(ops1, { PutItem: 2 });
    assert.deepEqual(listed, [first, second]);
  });

  test('never overwrites an entry: a second append with the same id and time is refused and the first stays', async () => {
    // Prepare
    const original = entry('e9', '2030-01-02T09:00:00.000Z', 'approved');
    await auditLog.append(original);
    // Act / Assess
    await assert.rejects(auditLog.append({ ...original, action: 'rejected', actor: 'mallory' }), ConflictError);
    const kept = (await auditLog.list(key)).find((e) => e.entryId === 'e9');
    assert.deepEqual(kept, original);
  });
});

describe('run store errors', () => {
  const aws = localAwsOptions('http://127.0.0.1:9');
  const doc = dynamoDocumentClient(aws);
  const mocked = mockClient(doc);
  const failingRuns = new DynamoRunStore(doc, 'any');
  const failingAudit = new DynamoAuditLog(doc, 'any');
  after(() => {
    mocked.restore();
    destroyClients(aws);
  });
  beforeEach(() => mocked.reset());

  test('throttling and 5xx become TransientError with the SDK error as cause', async () => {
    // Prepare
    const throttled = new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: { httpStatusCode: 400 } });
    const server = Object.assign(new Error('internal'), { name: 'InternalServerError', $fault: 'server', $metadata: { httpStatusCode: 500 } });
    mocked.on(GetCommand).rejects(throttled);
    mocked.on(PutCommand).rejects(server);
    mocked.on(QueryCommand).rejects(throttled);
    // Act / Assess
    await assert.rejects(failingRuns.get({ analysisId: 'a', runId: 'r' }), (e: unknown) => e instanceof TransientError && e.cause === throttled);
    await assert.rejects(failingRuns.put(run(), 1), TransientError);
    await assert.rejects(failingRuns.listForAnalysis('a', 5), TransientError);
    await assert.rejects(failingAudit.append({ analysisId: 'a', runId: 'r', entryId: 'e', at: 'x', actor: 'a', action: 'approved', manifestDigest: 'd' }), TransientError);
  });

  test('a non-transient error (missing table) propagates unchanged', async () => {
    const missing = Object.assign(new Error('no table'), { name: 'ResourceNotFoundException', $fault: 'client', $metadata: { httpStatusCode: 400 } });
    mocked.on(GetCommand).rejects(missing);
    await assert.rejects(failingRuns.get({ analysisId: 'a', runId: 'r' }), (e: unknown) => e === missing);
  });
});
