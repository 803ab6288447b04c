/** Core's Log over the Powertools Logger (structured JSON to CloudWatch in Lambda). */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Log } from '../core/index.js';

export function powertoolsLog(logger: Logger): Log {
  return {
    info: (message, data) => (data ? logger.info(message, data) : logger.info(message)),
    warn: (message, data) => (data ? logger.warn(message, data) : logger.warn(message)),
    error: (message, data) => (data ? logger.error(message, data) : logger.error(message)),
  };
}
