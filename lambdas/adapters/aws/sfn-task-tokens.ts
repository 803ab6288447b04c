/**
 * TaskTokens over Step Functions: a reviewer's decision completes the `.waitForTaskToken` step with
 * SendTaskSuccess. SendTaskFailure reports a step failed with an error name the state machine's Catch sees.
 * A token no step waits on any more (the step timed out, the execution ended, the token is not one) is a
 * ConflictError the desk answers with 409; throttling and 5xx become TransientError (503, try again).
 */
import { SendTaskFailureCommand, SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { ConflictError } from '../../core/errors.js';
import type { TaskTokens } from '../../core/runs/ports.js';
import { rethrowAwsError } from './clients/errors.js';

/** The answers that mean no step waits on the token. */
const GONE = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

/** SendTaskFailure limits: error 256 characters, cause 32768. */
const MAX_ERROR = 256;
const MAX_CAUSE = 32_768;

export class SfnTaskTokens implements TaskTokens {
  constructor(private readonly sfn: SFNClient) {}

  async succeed(taskToken: string, output: Record<string, unknown>): Promise<void> {
    try {
      await this.sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output) }));
    } catch (error) {
      this.refuse(error, 'Completing the review step');
    }
  }

  async fail(taskToken: string, error: string, cause: string): Promise<void> {
    try {
      await this.sfn.send(new SendTaskFailureCommand({ taskToken, error: error.slice(0, MAX_ERROR), cause: cause.slice(0, MAX_CAUSE) }));
    } catch (failure) {
      this.refuse(failure, 'Failing the review step');
    }
  }

  private refuse(error: unknown, what: string): never {
    const name = (error as { name?: string } | undefined)?.name ?? '';
    if (GONE.has(name)) {
      const why = name === 'TaskTimedOut' ? 'the review step timed out (the run has failed or will fail as timed out)' : 'no step waits for this decision any more';
      throw new ConflictError(`${what} was refused: ${why}`, { cause: error });
    }
    return rethrowAwsError(error, what);
  }
}
