import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { ExecutionAlreadyExists, SFNClient, SFNServiceException, StartExecutionCommand, StateMachineDoesNotExist } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { TransientError, ValidationError } from '../../../lambdas/core/errors.js';
import { executionArnOf, SfnRunExecutions } from '../../../lambdas/adapters/aws/sfn-run-executions.js';
import { connectionReset, serviceError, throttling, timeoutError } from './sdk-errors.js';

const client = new SFNClient({ region: 'eu-west-2', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const sfn = mockClient(client);
const MACHINE = 'arn:aws:states:eu-west-2:111122223333:stateMachine:carrel-test-enclave';
const KEY = { analysisId: 'demo', runId: 'r20261123t180000z-k3j9x0a1b2', submittedBy: 'alice' };
const EXECUTION = `arn:aws:states:eu-west-2:111122223333:execution:carrel-test-enclave:${KEY.runId}`;

describe('SfnRunExecutions', () => {
  afterEach(() => sfn.reset());

  it('starts the state machine named by the run id, with the run key and the submitter as input (the archive step finds the home by them)', async () => {
    // Prepare
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: new Date() });
    // Act
    const started = await new SfnRunExecutions(client, { stateMachineArn: MACHINE }).start(KEY);
    // Assess
    assert.deepEqual(started, { executionId: EXECUTION });
    const calls = sfn.commandCalls(StartExecutionCommand);
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0]!.args[0].input, { stateMachineArn: MACHINE, name: KEY.runId, input: JSON.stringify({ analysisId: 'demo', runId: KEY.runId, submittedBy: 'alice' }) });
  });

  it('treats ExecutionAlreadyExists as already started (a retried submit), answering the execution ARN', async () => {
    // Prepare
    sfn.on(StartExecutionCommand).rejects(serviceError(ExecutionAlreadyExists as never, 'ExecutionAlreadyExists', 400, 'Execution Already Exists'));
    // Act
    const started = await new SfnRunExecutions(client, { stateMachineArn: MACHINE }).start(KEY);
    // Assess
    assert.deepEqual(started, { executionId: EXECUTION });
    assert.equal(executionArnOf(MACHINE, KEY.runId), EXECUTION);
  });

  it('refuses a run id Step Functions cannot take as a name, calling nothing', async () => {
    // Prepare
    const executions = new SfnRunExecutions(client, { stateMachineArn: MACHINE });
    // Act / Assess
    await assert.rejects(executions.start({ analysisId: 'demo', runId: 'r'.repeat(81), submittedBy: 'alice' }), ValidationError);
    await assert.rejects(executions.start({ analysisId: 'demo', runId: 'has.dot', submittedBy: 'alice' }), ValidationError);
    assert.equal(sfn.commandCalls(StartExecutionCommand).length, 0);
  });

  const transient: [string, () => Error][] = [
    ['ThrottlingException', () => throttling(SFNServiceException as never)],
    ['a 500', () => serviceError(SFNServiceException as never, 'InternalFailure', 500, 'internal')],
    ['a 503', () => serviceError(SFNServiceException as never, 'ServiceUnavailable', 503, 'unavailable')],
    ['a timeout', timeoutError],
    ['a reset connection', connectionReset],
  ];
  for (const [what, make] of transient) {
    it(`wraps ${what} in a TransientError with the cause`, async () => {
      // Prepare
      const cause = make();
      sfn.on(StartExecutionCommand).rejects(cause);
      // Act / Assess
      await assert.rejects(new SfnRunExecutions(client, { stateMachineArn: MACHINE }).start(KEY), (error: unknown) => error instanceof TransientError && error.cause === cause);
    });
  }

  it('passes StateMachineDoesNotExist and AccessDenied through unchanged (a deployment fault, not worth retrying)', async () => {
    for (const cause of [
      serviceError(StateMachineDoesNotExist as never, 'StateMachineDoesNotExist', 400, 'State Machine Does Not Exist'),
      serviceError(SFNServiceException as never, 'AccessDeniedException', 400, 'not authorized'),
    ]) {
      // Prepare
      sfn.reset();
      sfn.on(StartExecutionCommand).rejects(cause);
      // Act / Assess
      await assert.rejects(new SfnRunExecutions(client, { stateMachineArn: MACHINE }).start(KEY), (error: unknown) => error === cause);
    }
  });
});
