/** A Query followed through every page (DynamoDB pages at 1 MB): the one paging loop of the table adapters. */
import { QueryCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { rethrowAwsError } from './clients/errors.js';

export async function queryAll(doc: DynamoDBDocumentClient, input: Omit<QueryCommandInput, 'ExclusiveStartKey'>, what: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  try {
    do {
      const out = await doc.send(new QueryCommand({ ...input, ExclusiveStartKey: startKey }));
      items.push(...(out.Items ?? []));
      startKey = out.LastEvaluatedKey;
    } while (startKey);
  } catch (error) {
    return rethrowAwsError(error, what);
  }
  return items;
}
