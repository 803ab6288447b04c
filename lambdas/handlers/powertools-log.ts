/** Core's Log over the Powertools Logger (structured JSON to CloudWatch in Lambda). */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Log } from '../core/index.js';

/** Keys Powertools owns and would drop from a log line; they are kept as `detail_<key>` instead. */
const RESERVED = new Set(['level', 'message', 'sampling_rate', 'service', 'timestamp']);

function attributes(data: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(data).map(([key, value]) => [RESERVED.has(key) ? `detail_${key}` : key, value]));
}

export function powertoolsLog(logger: Logger): Log {
  return {
    info: (message, data) => (data ? logger.info(message, attributes(data)) : logger.info(message)),
    warn: (message, data) => (data ? logger.warn(message, attributes(data)) : logger.warn(message)),
    error: (message, data) => (data ? logger.error(message, attributes(data)) : logger.error(message)),
  };
}
