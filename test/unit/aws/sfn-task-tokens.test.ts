import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { InvalidToken, SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient, SFNServiceException, TaskDoesNotExist, TaskTimedOut } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { ConflictError, TransientError } from '../../../lambdas/core/errors.js';
import { SfnTaskTokens } from '../../../lambdas/adapters/aws/sfn-task-tokens.js';
import { connectionReset, serviceError, throttling, timeoutError } from './sdk-errors.js';

const client = new SFNClient({ region: 'eu-west-2', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const sfn = mockClient(client);
const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAf-token';

describe('SfnTaskTokens', () => {
  afterEach(() => sfn.reset());

  it('completes the waiting step with SendTaskSuccess and the outcome as JSON', async () => {
    // Prepare
    sfn.on(SendTaskSuccessCommand).resolves({});
    // Act
    await new SfnTaskTokens(client).succeed(TOKEN, { outcome: 'approved', step: 'code-review' });
    // Assess
    const calls = sfn.commandCalls(SendTaskSuccessCommand);
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0]!.args[0].input, { taskToken: TOKEN, output: JSON.stringify({ outcome: 'approved', step: 'code-review' }) });
  });

  it('fails the step with SendTaskFailure, error and cause cut to the service limits', async () => {
    // Prepare
    sfn.on(SendTaskFailureCommand).resolves({});
    // Act
    await new SfnTaskTokens(client).fail(TOKEN, 'E'.repeat(300), 'c'.repeat(40_000));
    // Assess
    const input = sfn.commandCalls(SendTaskFailureCommand)[0]!.args[0].input;
    assert.equal(input.taskToken, TOKEN);
    assert.equal(input.error!.length, 256);
    assert.equal(input.cause!.length, 32_768);
  });

  const gone: [string, () => Error, RegExp][] = [
    ['TaskTimedOut', () => serviceError(TaskTimedOut as never, 'TaskTimedOut', 400, 'Task Timed Out'), /timed out/],
    ['TaskDoesNotExist', () => serviceError(TaskDoesNotExist as never, 'TaskDoesNotExist', 400, 'Task does not exist anymore'), /no step waits/],
    ['InvalidToken', () => serviceError(InvalidToken as never, 'InvalidToken', 400, 'Invalid Token'), /no step waits/],
  ];
  for (const [name, make, message] of gone) {
    for (const Command of [SendTaskSuccessCommand, SendTaskFailureCommand] as const) {
      it(`turns ${name} from ${Command.name} into a ConflictError (the decision cannot complete the step)`, async () => {
        // Prepare
        const cause = make();
        sfn.on(Command as never).rejects(cause);
        const tokens = new SfnTaskTokens(client);
        // Act
        const act = Command === SendTaskSuccessCommand ? tokens.succeed(TOKEN, { outcome: 'approved' }) : tokens.fail(TOKEN, 'Rejected', 'no');
        // Assess
        await assert.rejects(act, (error: unknown) => error instanceof ConflictError && message.test(error.message) && error.cause === cause);
      });
    }
  }

  const transient: [string, () => Error][] = [
    ['ThrottlingException', () => throttling(SFNServiceException as never)],
    ['a 500', () => serviceError(SFNServiceException as never, 'InternalFailure', 500, 'internal')],
    ['a timeout', timeoutError],
    ['a reset connection', connectionReset],
  ];
  for (const [what, make] of transient) {
    it(`wraps ${what} in a TransientError with the cause`, async () => {
      // Prepare
      const cause = make();
      sfn.on(SendTaskSuccessCommand).rejects(cause);
      // Act / Assess
      await assert.rejects(new SfnTaskTokens(client).succeed(TOKEN, {}), (error: unknown) => error instanceof TransientError && error.cause === cause);
    });
  }

  it('passes any other service error through unchanged', async () => {
    // Prepare
    const cause = serviceError(SFNServiceException as never, 'AccessDeniedException', 400, 'not authorized');
    sfn.on(SendTaskSuccessCommand).rejects(cause);
    // Act / Assess
    await assert.rejects(new SfnTaskTokens(client).succeed(TOKEN, {}), (error: unknown) => error === cause);
  });
});
