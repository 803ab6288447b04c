/**
 * WorkspaceStore on the single DynamoDB table (docs/data-model.md). Every write is a single-item
 * conditional write, so the same code runs on DynamoDB and on dynalite (no transactions needed).
 */
import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient, type PutCommandInput } from '@aws-sdk/lib-dynamodb';
import type { WorkspaceStore } from '../../core/ports.js';
import type { Workspace, WorkspaceKey } from '../../core/workspace.js';
import { rethrowAwsError } from './clients/errors.js';
import { DUE_SHARDS, TABLE_SCHEMA } from './table-schema.js';

type Item = Record<string, unknown>;

/** Attributes that exist only for the table's keys and indexes, never part of a core `Workspace`. */
const INTERNAL_ATTRIBUTES = [TABLE_SCHEMA.partitionKey, TABLE_SCHEMA.sortKey, TABLE_SCHEMA.dueIndex.partitionKey] as const;

export function workspacePk(analysisId: string): string {
  return `ANALYSIS#${analysisId}`;
}

export function workspaceSk(userId: string): string {
  return `WS#${userId}`;
}

export function workspaceItemKey(key: WorkspaceKey): { pk: string; sk: string } {
  return { pk: workspacePk(key.analysisId), sk: workspaceSk(key.userId) };
}

/**
 * The `dueShard` of a record: `DUE#<n>`, n a stable hash of the record's primary key (pk and sk)
 * modulo DUE_SHARDS. It never changes for a record, so writes may always set it.
 */
export function dueShardOf(key: WorkspaceKey): string {
  const { pk, sk } = workspaceItemKey(key);
  const n = createHash('sha256').update(`${pk}\u0000${sk}`).digest().readUInt32BE(0) % DUE_SHARDS;
  return `DUE#${n}`;
}

export function allDueShards(): string[] {
  return Array.from({ length: DUE_SHARDS }, (_, n) => `DUE#${n}`);
}

/**
 * The stored item of a workspace: the record's fields plus its keys, and `dueShard` only when
 * `dueAt` is set (the sparse byDue index then holds it). Unset optional fields are simply absent
 * (the document client removes undefined values), which keeps `instanceId` sparse for byInstance.
 */
export function toItem(ws: Workspace): Item {
  const item: Item = { ...ws, ...workspaceItemKey(ws) };
  if (ws.dueAt) item[TABLE_SCHEMA.dueIndex.partitionKey] = dueShardOf(ws);
  else delete item.dueAt;
  if (!ws.instanceId) delete item.instanceId;
  for (const [name, value] of Object.entries(item)) if (value === undefined) delete item[name];
  return item;
}

export function fromItem(item: Item): Workspace {
  const ws: Item = { ...item };
  for (const name of INTERNAL_ATTRIBUTES) delete ws[name];
  return ws as unknown as Workspace;
}

/** The condition of a versioned write: create-if-absent (null) or replace-if-version-matches. */
export function versionCondition(
  expectedVersion: number | null,
): Pick<PutCommandInput, 'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'> {
  return expectedVersion === null
    ? { ConditionExpression: 'attribute_not_exists(#pk)', ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey } }
    : { ConditionExpression: '#version = :expected', ExpressionAttributeNames: { '#version': 'version' }, ExpressionAttributeValues: { ':expected': expectedVersion } };
}

/** A lost conditional write (someone else wrote first): the caller re-reads and decides again. */
/** One conditional PutItem of a versioned item (see versionCondition); false when the condition failed. */
export async function putVersioned(doc: DynamoDBDocumentClient, tableName: string, item: Item, expectedVersion: number | null, what: string): Promise<boolean> {
  try {
    await doc.send(new PutCommand({ TableName: tableName, Item: item, ...versionCondition(expectedVersion) }));
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    return rethrowAwsError(error, what);
  }
}

/** One strongly consistent GetItem; undefined when there is no such item. */
export async function getConsistent(doc: DynamoDBDocumentClient, tableName: string, key: Item, what: string): Promise<Item | undefined> {
  try {
    const out = await doc.send(new GetCommand({ TableName: tableName, Key: key, ConsistentRead: true }));
    return out.Item;
  } catch (error) {
    return rethrowAwsError(error, what);
  }
}

export function isConditionFailure(error: unknown): boolean {
  return error instanceof ConditionalCheckFailedException;
}

export class DynamoWorkspaceStore implements WorkspaceStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /** One strongly consistent GetItem. */
  async get(key: WorkspaceKey): Promise<Workspace | undefined> {
    const item = await getConsistent(this.doc, this.tableName, workspaceItemKey(key), 'Reading the workspace');
    return item ? fromItem(item) : undefined;
  }

  /** One conditional PutItem: create-if-absent (expectedVersion null) or replace-if-version-matches. */
  async put(next: Workspace, expectedVersion: number | null): Promise<boolean> {
    return putVersioned(this.doc, this.tableName, toItem(next), expectedVersion, 'Writing the workspace');
  }

  /**
   * One UpdateItem, conditional on the record being `ready` (and, when given, on its workspaceId and
   * generation): sets the activity time and the next due time, bumps the version, returns the new record.
   */
  async touch(
    key: WorkspaceKey,
    activity: { readonly at: string; readonly dueAt: string; readonly workspaceId?: string; readonly generation?: number },
  ): Promise<Workspace | undefined> {
    const names: Record<string, string> = {
      '#state': 'state',
      '#lastActivityAt': 'lastActivityAt',
      '#dueAt': TABLE_SCHEMA.dueIndex.sortKey,
      '#dueShard': TABLE_SCHEMA.dueIndex.partitionKey,
      '#version': 'version',
    };
    const values: Record<string, unknown> = {
      ':ready': 'ready',
      ':at': activity.at,
      ':dueAt': activity.dueAt,
      ':dueShard': dueShardOf(key),
      ':one': 1,
    };
    const conditions = ['#state = :ready'];
    if (activity.workspaceId !== undefined) {
      names['#workspaceId'] = 'workspaceId';
      values[':workspaceId'] = activity.workspaceId;
      conditions.push('#workspaceId = :workspaceId');
    }
    if (activity.generation !== undefined) {
      names['#generation'] = 'generation';
      values[':generation'] = activity.generation;
      conditions.push('#generation = :generation');
    }
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: workspaceItemKey(key),
          UpdateExpression: 'SET #lastActivityAt = :at, #dueAt = :dueAt, #dueShard = :dueShard ADD #version :one',
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return out.Attributes ? fromItem(out.Attributes) : undefined;
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      return rethrowAwsError(error, 'Recording workspace activity');
    }
  }

  /**
   * One Query on the byInstance index (KEYS_ONLY, eventually consistent), then one consistent GetItem
   * of the record it points at, so the caller decides on fresh data (a resume keeps the instance id
   * across generations, and an index entry may lag the table). Cost: 1 Query + 1 GetItem per event.
   * Returns undefined when the fresh record no longer names this instance.
   */
  async findByInstance(instanceId: string): Promise<Workspace | undefined> {
    let keys: Item[];
    try {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: TABLE_SCHEMA.instanceIndex.name,
          KeyConditionExpression: '#instanceId = :instanceId',
          ExpressionAttributeNames: { '#instanceId': TABLE_SCHEMA.instanceIndex.partitionKey },
          ExpressionAttributeValues: { ':instanceId': instanceId },
        }),
      );
      keys = out.Items ?? [];
    } catch (error) {
      return rethrowAwsError(error, 'Finding the workspace of an instance');
    }
    for (const indexed of keys) {
      const key = { [TABLE_SCHEMA.partitionKey]: indexed[TABLE_SCHEMA.partitionKey], [TABLE_SCHEMA.sortKey]: indexed[TABLE_SCHEMA.sortKey] };
      try {
        const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }));
        if (out.Item && out.Item.instanceId === instanceId) return fromItem(out.Item);
      } catch (error) {
        return rethrowAwsError(error, 'Reading the workspace of an instance');
      }
    }
    return undefined;
  }

  /**
   * Housekeeping's candidates: one Query per `dueShard` on the sparse byDue index with
   * `dueAt <= now` (oldest first), merged and cut to `limit`. Never a Scan. Index reads are
   * eventually consistent; the use cases re-read each record before they write.
   */
  async findDue(now: string, limit: number): Promise<readonly Workspace[]> {
    if (limit <= 0) return [];
    const perShard = await Promise.all(allDueShards().map((shard) => this.queryShard(shard, now, limit)));
    return perShard
      .flat()
      .sort((a, b) => compare(String(a.dueAt), String(b.dueAt)) || compare(String(a.pk), String(b.pk)) || compare(String(a.sk), String(b.sk)))
      .slice(0, limit)
      .map(fromItem);
  }

  private async queryShard(shard: string, now: string, limit: number): Promise<Item[]> {
    const items: Item[] = [];
    let startKey: Record<string, unknown> | undefined;
    try {
      do {
        const out = await this.doc.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: TABLE_SCHEMA.dueIndex.name,
            KeyConditionExpression: '#shard = :shard AND #dueAt <= :now',
            ExpressionAttributeNames: { '#shard': TABLE_SCHEMA.dueIndex.partitionKey, '#dueAt': TABLE_SCHEMA.dueIndex.sortKey },
            ExpressionAttributeValues: { ':shard': shard, ':now': now },
            ScanIndexForward: true,
            Limit: limit - items.length,
            ExclusiveStartKey: startKey,
          }),
        );
        items.push(...(out.Items ?? []));
        startKey = out.LastEvaluatedKey;
      } while (startKey && items.length < limit);
    } catch (error) {
      return rethrowAwsError(error, 'Finding due workspaces');
    }
    return items;
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
