/** Tests use the local runtime's dynalite (in memory, its own table name). */
import { startDynalite as start, type LocalDynamo } from '../../local/dynamodb.js';

export type TestDynamo = LocalDynamo;

export function startDynalite(options: { path?: string; tableName?: string } = {}): Promise<TestDynamo> {
  return start({ tableName: 'carrel-test', ...options });
}
