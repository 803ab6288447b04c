/**
 * Enclave runs and their audit log on the single DynamoDB table (docs/data-model.md). As for
 * workspaces, every write is one single-item conditional write (dynalite has no transactions):
 * - a run is replaced only if its `version` still matches (or created only if absent);
 * - an audit entry is only ever created (`attribute_not_exists`), never updated or deleted.
 * Run items never carry `dueShard` or `instanceId`, so they stay out of the workspace indexes; a run waiting
 * for review carries `reviewQueue` (its step) and `reviewSince`, so the sparse `byReview` index holds exactly
 * the reviewers' queue, and a run leaves it with the write that moves it on.
 */
import { PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ConflictError } from '../../core/errors.js';
import type { AuditEntry } from '../../core/runs/audit.js';
import type { AuditLog, RunStore } from '../../core/runs/ports.js';
import { isReviewState, type ReviewStep, type Run, type RunKey } from '../../core/runs/run.js';
import { rethrowAwsError } from './clients/errors.js';
import { TABLE_SCHEMA } from './table-schema.js';
import { getConsistent, isConditionFailure, putVersioned, workspacePk } from './dynamo-store.js';

type Item = Record<string, unknown>;

const RUN_PREFIX = 'RUN#';
/** Attributes that exist only for the table, never part of a core `Run` or `AuditEntry`. */
const INTERNAL = [TABLE_SCHEMA.partitionKey, TABLE_SCHEMA.sortKey, 'type', TABLE_SCHEMA.reviewIndex.partitionKey, TABLE_SCHEMA.reviewIndex.sortKey] as const;

/** A run lives in its analysis's partition, beside the analysis and its workspaces. */
export function runItemKey(key: RunKey): { pk: string; sk: string } {
  return { pk: workspacePk(key.analysisId), sk: `${RUN_PREFIX}${key.runId}` };
}

/** A run's audit log is its own partition, read oldest first. */
export function auditPk(key: RunKey): string {
  return `AUDIT#${key.analysisId}#${key.runId}`;
}

export function auditItemKey(entry: AuditEntry): { pk: string; sk: string } {
  return { pk: auditPk(entry), sk: `${entry.at}#${entry.entryId}` };
}

function strip(item: Item): Item {
  const out: Item = { ...item };
  for (const name of INTERNAL) delete out[name];
  return out;
}

/** The stored item of a run: its fields, its keys, and the review-queue attributes while it waits for review. */
export function runItem(run: Run): Item {
  const item: Item = { ...run, ...runItemKey(run), type: 'run' };
  if (isReviewState(run.state)) {
    item[TABLE_SCHEMA.reviewIndex.partitionKey] = run.state;
    item[TABLE_SCHEMA.reviewIndex.sortKey] = run.stateEnteredAt;
  }
  return defined(item);
}

function defined(item: Item): Item {
  for (const [name, value] of Object.entries(item)) if (value === undefined) delete item[name];
  return item;
}

export class DynamoRunStore implements RunStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /** One strongly consistent GetItem. */
  async get(key: RunKey): Promise<Run | undefined> {
    const item = await getConsistent(this.doc, this.tableName, runItemKey(key), 'Reading the run');
    return item ? (strip(item) as unknown as Run) : undefined;
  }

  /** One conditional PutItem: create-if-absent (null) or replace-if-version-matches. */
  async put(next: Run, expectedVersion: number | null): Promise<boolean> {
    return putVersioned(this.doc, this.tableName, runItem(next), expectedVersion, 'Writing the run');
  }

  /** One Query on the analysis's partition, `sk` beginning with `RUN#`, descending: newest first (ids sort by time). */
  async listForAnalysis(analysisId: string, limit: number): Promise<readonly Run[]> {
    if (limit <= 0) return [];
    try {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
          ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey, '#sk': TABLE_SCHEMA.sortKey },
          ExpressionAttributeValues: { ':pk': workspacePk(analysisId), ':prefix': RUN_PREFIX },
          ScanIndexForward: false,
          Limit: limit,
        }),
      );
      return (out.Items ?? []).map((item) => strip(item) as unknown as Run);
    } catch (error) {
      return rethrowAwsError(error, "Listing the analysis's runs");
    }
  }

  /** One Query on the sparse `byReview` index: the runs waiting at `step`, longest waiting first (eventually consistent). */
  async listWaitingForReview(step: ReviewStep, limit: number): Promise<readonly Run[]> {
    if (limit <= 0) return [];
    const { name, partitionKey } = TABLE_SCHEMA.reviewIndex;
    try {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: name,
          KeyConditionExpression: '#queue = :step',
          ExpressionAttributeNames: { '#queue': partitionKey },
          ExpressionAttributeValues: { ':step': step },
          ScanIndexForward: true,
          Limit: limit,
        }),
      );
      return (out.Items ?? []).map((item) => strip(item) as unknown as Run);
    } catch (error) {
      return rethrowAwsError(error, 'Reading the review queue');
    }
  }
}

export class DynamoAuditLog implements AuditLog {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /** One PutItem that only creates: an existing entry is never overwritten (ConflictError). */
  async append(entry: AuditEntry): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: defined({ ...entry, ...auditItemKey(entry), type: 'audit' }),
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) {
        throw new ConflictError(`Audit entry ${entry.entryId} of run ${entry.runId} already exists; entries are never rewritten`, { cause: error });
      }
      return rethrowAwsError(error, 'Appending to the audit log');
    }
  }

  /** Query on the run's audit partition, oldest first, following pages. */
  async list(key: RunKey): Promise<readonly AuditEntry[]> {
    const entries: AuditEntry[] = [];
    let startKey: Record<string, unknown> | undefined;
    try {
      do {
        const out = await this.doc.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: '#pk = :pk',
            ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey },
            ExpressionAttributeValues: { ':pk': auditPk(key) },
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
          }),
        );
        entries.push(...(out.Items ?? []).map((item) => strip(item) as unknown as AuditEntry));
        startKey = out.LastEvaluatedKey;
      } while (startKey);
    } catch (error) {
      return rethrowAwsError(error, 'Reading the audit log');
    }
    return entries;
  }
}
