/**
 * Create the single table exactly as TABLE_SCHEMA describes it (the CDK stateful stack mirrors the
 * same schema): string keys pk/sk, on-demand billing, and the three sparse GSIs
 * - byDue (dueShard, dueAt), projection ALL: housekeeping reads whole records from it;
 * - byInstance (instanceId), projection KEYS_ONLY: the adapter re-reads the record consistently;
 * - byReview (reviewQueue, reviewSince), projection ALL: the reviewers' queue of waiting runs.
 * Idempotent (an existing table is accepted) and waits until the table and its indexes are ACTIVE.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  type CreateTableCommandInput,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { TABLE_SCHEMA } from './table-schema.js';

export function tableDefinition(tableName: string): CreateTableCommandInput {
  const { partitionKey, sortKey, dueIndex, instanceIndex, reviewIndex } = TABLE_SCHEMA;
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: partitionKey, AttributeType: 'S' },
      { AttributeName: sortKey, AttributeType: 'S' },
      { AttributeName: dueIndex.partitionKey, AttributeType: 'S' },
      { AttributeName: dueIndex.sortKey, AttributeType: 'S' },
      { AttributeName: instanceIndex.partitionKey, AttributeType: 'S' },
      { AttributeName: reviewIndex.partitionKey, AttributeType: 'S' },
      { AttributeName: reviewIndex.sortKey, AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: partitionKey, KeyType: 'HASH' },
      { AttributeName: sortKey, KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: dueIndex.name,
        KeySchema: [
          { AttributeName: dueIndex.partitionKey, KeyType: 'HASH' },
          { AttributeName: dueIndex.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
      {
        IndexName: instanceIndex.name,
        KeySchema: [{ AttributeName: instanceIndex.partitionKey, KeyType: 'HASH' }],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      },
      {
        IndexName: reviewIndex.name,
        KeySchema: [
          { AttributeName: reviewIndex.partitionKey, KeyType: 'HASH' },
          { AttributeName: reviewIndex.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ],
  };
}

export async function createTable(client: DynamoDBClient, tableName: string, options: { timeoutMs?: number } = {}): Promise<void> {
  try {
    await client.send(new CreateTableCommand(tableDefinition(tableName)));
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  // dynalite is ACTIVE almost at once; DynamoDB takes seconds: back off so DescribeTable is not throttled.
  for (let pause = 25; ; pause = Math.min(pause * 2, 2_000)) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    const indexesActive = (Table?.GlobalSecondaryIndexes ?? []).every((index) => index.IndexStatus === 'ACTIVE');
    if (Table?.TableStatus === 'ACTIVE' && indexesActive) return;
    if (Date.now() > deadline) throw new Error(`Table ${tableName} did not become ACTIVE in time (status ${Table?.TableStatus})`);
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}
