/**
 * DynamoDB on this machine: a dynalite server (DynamoDB's API over LevelDB) on an ephemeral
 * 127.0.0.1 port, in memory unless `path` is given (the local runtime persists it under its data
 * folder), with the carrel table created. Dummy credentials and region: no AWS account is involved.
 * Clients come from the one client module (memoized per endpoint; each server has its own port).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { destroyClients, localAwsOptions } from '../lambdas/adapters/aws/clients/base.js';
import { dynamoClient, dynamoDocumentClient } from '../lambdas/adapters/aws/clients/dynamodb.js';
import { createTable } from '../lambdas/adapters/aws/create-table.js';

type DynaliteFactory = (options?: {
  path?: string;
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}) => Server;

// dynalite is CommonJS without type declarations.
const dynalite = createRequire(import.meta.url)('dynalite') as DynaliteFactory;

export interface LocalDynamo {
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  readonly doc: DynamoDBDocumentClient;
  readonly tableName: string;
  close(): Promise<void>;
}

export async function startDynalite(options: { path?: string; tableName?: string } = {}): Promise<LocalDynamo> {
  const server = dynalite({ path: options.path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const aws = localAwsOptions(endpoint);
  const client = dynamoClient(aws);
  const doc = dynamoDocumentClient(aws);
  const tableName = options.tableName ?? 'carrel';
  try {
    await createTable(client, tableName);
  } catch (error) {
    destroyClients(aws);
    await new Promise((resolve) => server.close(resolve));
    throw error;
  }
  return {
    endpoint,
    client,
    doc,
    tableName,
    async close() {
      destroyClients(aws);
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
