/**
 * Count the DynamoDB operations a client sends, by operation name (GetItem, PutItem, UpdateItem,
 * Query, Scan, ...). Tests and the benchmark use it to show what an access pattern costs, e.g.
 * "a status poll is one GetItem, a heartbeat one UpdateItem", and that nothing ever Scans.
 *
 * A DynamoDBDocumentClient shares its DynamoDBClient's middleware stack, so attaching to either
 * counts the commands sent through both.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export type OperationCounts = Readonly<Record<string, number>>;

export interface OperationCounter {
  /** Counts since creation or the last reset, e.g. `{ GetItem: 1 }`. */
  snapshot(): OperationCounts;
  /** Total of every operation counted. */
  total(): number;
  reset(): void;
  /** Remove the middleware from the client. */
  detach(): void;
}

let counters = 0;

/** Operation name of an SDK command name: `GetItemCommand` → `GetItem`. */
export function operationName(commandName: string): string {
  return commandName.endsWith('Command') ? commandName.slice(0, -'Command'.length) : commandName;
}

export function countOperations(client: DynamoDBClient | DynamoDBDocumentClient): OperationCounter {
  const name = `carrelOperationCounter${++counters}`;
  let counts: Record<string, number> = {};
  client.middlewareStack.add(
    (next, context) => async (args) => {
      // Counted once per operation, before retries: what the caller asked for.
      const operation = operationName(String(context.commandName ?? 'Unknown'));
      counts[operation] = (counts[operation] ?? 0) + 1;
      return next(args);
    },
    { step: 'initialize', name },
  );
  return {
    snapshot: () => ({ ...counts }),
    total: () => Object.values(counts).reduce((sum, n) => sum + n, 0),
    reset: () => {
      counts = {};
    },
    detach: () => {
      client.middlewareStack.remove(name);
    },
  };
}
