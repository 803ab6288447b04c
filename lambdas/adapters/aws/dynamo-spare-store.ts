/**
 * SpareStore (the warm pool) on the single DynamoDB table: one item per spare under `POOL#<size>`, so a
 * size's pool is one Query. Writes are single-item conditional writes on `version`, as for workspaces.
 * A spare's instance id is stored as `spareInstanceId`, never `instanceId`: the byInstance index maps an
 * instance to the workspace that owns it, and a spare belongs to none.
 */
import { DeleteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Spare } from '../../core/pool.js';
import type { SpareStore } from '../../core/ports.js';
import { rethrowAwsError } from './clients/errors.js';
import { queryAll } from './dynamo-query.js';
import { getConsistent, isConditionFailure, putVersioned } from './dynamo-store.js';
import { TABLE_SCHEMA } from './table-schema.js';

type Item = Record<string, unknown>;

export function sparePk(size: string): string {
  return `POOL#${size}`;
}

export function spareSk(spareId: string): string {
  return `SPARE#${spareId}`;
}

function toItem(spare: Spare): Item {
  const { instanceId, ...rest } = spare;
  const item: Item = { ...rest, [TABLE_SCHEMA.partitionKey]: sparePk(spare.size), [TABLE_SCHEMA.sortKey]: spareSk(spare.spareId) };
  if (instanceId) item.spareInstanceId = instanceId;
  for (const [name, value] of Object.entries(item)) if (value === undefined) delete item[name];
  return item;
}

function fromItem(item: Item): Spare {
  const { spareInstanceId, [TABLE_SCHEMA.partitionKey]: _pk, [TABLE_SCHEMA.sortKey]: _sk, ...rest } = item;
  return { ...(rest as unknown as Spare), ...(typeof spareInstanceId === 'string' ? { instanceId: spareInstanceId } : {}) };
}

export class DynamoSpareStore implements SpareStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /** One strongly consistent Query of the size's partition (a pool holds a handful of spares). */
  async list(size: string): Promise<readonly Spare[]> {
    const items = await queryAll(
      this.doc,
      {
        TableName: this.tableName,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey },
        ExpressionAttributeValues: { ':pk': sparePk(size) },
        ConsistentRead: true,
      },
      'Reading the warm pool',
    );
    return items.map(fromItem);
  }

  async get(size: string, spareId: string): Promise<Spare | undefined> {
    const item = await getConsistent(this.doc, this.tableName, { [TABLE_SCHEMA.partitionKey]: sparePk(size), [TABLE_SCHEMA.sortKey]: spareSk(spareId) }, 'Reading a spare');
    return item ? fromItem(item) : undefined;
  }

  async put(next: Spare, expectedVersion: number | null): Promise<boolean> {
    return putVersioned(this.doc, this.tableName, toItem(next), expectedVersion, 'Writing a spare');
  }

  async remove(spare: Spare): Promise<boolean> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { [TABLE_SCHEMA.partitionKey]: sparePk(spare.size), [TABLE_SCHEMA.sortKey]: spareSk(spare.spareId) },
          ConditionExpression: '#version = :expected',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: { ':expected': spare.version },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      return rethrowAwsError(error, 'Deleting a spare');
    }
  }
}
