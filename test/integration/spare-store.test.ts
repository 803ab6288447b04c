/**
 * The warm pool's spare records on dynalite: conditional writes, one Query per size, and that a spare's
 * instance never appears in the byInstance index (which maps instances to workspaces).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { TransientError } from '../../lambdas/core/errors.js';
import type { Spare } from '../../lambdas/core/pool.js';
import { DynamoSpareStore } from '../../lambdas/adapters/aws/dynamo-spare-store.js';
import { DynamoWorkspaceStore } from '../../lambdas/adapters/aws/dynamo-store.js';
import { countOperations } from '../../lambdas/adapters/aws/operation-counter.js';
import { startDynalite, type TestDynamo } from '../support/dynalite.js';

let dynamo: TestDynamo;
let spares: DynamoSpareStore;
let seq = 0;

before(async () => {
  dynamo = await startDynalite();
  spares = new DynamoSpareStore(dynamo.doc, dynamo.tableName);
});

after(async () => {
  await dynamo.close();
});

function spare(overrides: Partial<Spare> = {}): Spare {
  seq++;
  return {
    size: 'small',
    spareId: `spare${String(seq).padStart(11, '0')}`,
    state: 'launching',
    version: 1,
    hostLabel: `ws-${String(seq).padStart(16, 'a')}`,
    createdAt: '2030-01-01T00:00:00.000Z',
    stateEnteredAt: '2030-01-01T00:00:00.000Z',
    ...overrides,
  };
}

describe('DynamoSpareStore on dynalite', () => {
  test('creates once, replaces only at the expected version, and reads back what it wrote', async () => {
    // Prepare
    const first = spare({ size: 'medium' });
    const warming: Spare = { ...first, state: 'warming', instanceId: 'i-0123456789abcdef0', version: 2 };

    // Act
    const created = await spares.put(first, null);
    const createdAgain = await spares.put(first, null);
    const replaced = await spares.put(warming, 1);
    const stale = await spares.put({ ...warming, state: 'available', version: 3 }, 1);

    // Assess
    assert.deepEqual([created, createdAgain, replaced, stale], [true, false, true, false]);
    assert.deepEqual(await spares.get('medium', first.spareId), warming);
  });

  test('lists one size\'s spares with one Query, and never another size\'s', async () => {
    // Prepare
    const size = `size${seq}`;
    const mine = [spare({ size }), spare({ size }), spare({ size })];
    for (const s of mine) await spares.put(s, null);
    await spares.put(spare({ size: `${size}x` }), null);
    const ops = countOperations(dynamo.doc);

    // Act
    const listed = await spares.list(size);

    // Assess
    assert.deepEqual(listed.map((s) => s.spareId).sort(), mine.map((s) => s.spareId).sort());
    assert.deepEqual(ops.snapshot(), { Query: 1 });
    ops.detach();
  });

  test('removes only at the expected version', async () => {
    // Prepare
    const s = spare({ size: 'large' });
    await spares.put(s, null);
    await spares.put({ ...s, state: 'warming', version: 2 }, 1);

    // Act
    const staleRemove = await spares.remove(s);
    const remove = await spares.remove({ ...s, version: 2 });
    const again = await spares.remove({ ...s, version: 2 });

    // Assess
    assert.deepEqual([staleRemove, remove, again], [false, true, false]);
    assert.equal(await spares.get('large', s.spareId), undefined);
  });

  test('a spare\'s instance is not in the byInstance index: no workspace is found for it', async () => {
    // Prepare
    const s = spare({ state: 'available', instanceId: 'i-0aaaaaaaaaaaaaaaa', version: 1 });
    await spares.put(s, null);
    const workspaces = new DynamoWorkspaceStore(dynamo.doc, dynamo.tableName);

    // Act
    const owner = await workspaces.findByInstance('i-0aaaaaaaaaaaaaaaa');

    // Assess
    assert.equal(owner, undefined);
    assert.equal((await spares.get('small', s.spareId))?.instanceId, 'i-0aaaaaaaaaaaaaaaa');
  });

  test('throttling becomes a TransientError', async () => {
    // Prepare
    const mock = mockClient(dynamo.doc);
    mock.onAnyCommand().rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));

    // Act / Assess
    try {
      await assert.rejects(spares.list('small'), TransientError);
      await assert.rejects(spares.put(spare(), null), TransientError);
      await assert.rejects(spares.remove(spare()), TransientError);
    } finally {
      mock.restore();
    }
  });
});
