import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { InvokeCommand, LambdaClient, LambdaServiceException } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { TransientError } from '../../../lambdas/core/errors.js';
import { LambdaProvisioner, ProvisionerInvokeError } from '../../../lambdas/adapters/aws/lambda-provisioner.js';
import { makeWorkspace } from '../../support/fakes.js';
import { clientError, connectionReset, serviceError, timeoutError } from './sdk-errors.js';

const FUNCTION = 'carrel-test-provision';

const client = new LambdaClient({ region: 'eu-west-2', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const lambda = mockClient(client);

const workspace = makeWorkspace('provisioning', { generation: 4 });

describe('LambdaProvisioner', () => {
  afterEach(() => lambda.reset());

  it('invokes the provisioner asynchronously with the record key and generation', async () => {
    // Prepare
    lambda.on(InvokeCommand).resolves({ StatusCode: 202 });
    // Act
    await new LambdaProvisioner(client, FUNCTION).provision(workspace);
    // Assess
    const calls = lambda.commandCalls(InvokeCommand);
    assert.equal(calls.length, 1);
    const input = calls[0]!.args[0].input;
    assert.equal(input.FunctionName, FUNCTION);
    assert.equal(input.InvocationType, 'Event');
    assert.deepEqual(JSON.parse(new TextDecoder().decode(input.Payload as Uint8Array)), { analysisId: 'demo', userId: 'alice', generation: 4 });
    assert.deepEqual(Object.keys(input).sort(), ['FunctionName', 'InvocationType', 'Payload']);
  });

  for (const [what, output] of [
    ['a synchronous 200 (the invocation type was not honoured)', { StatusCode: 200 }],
    ['no status code', {}],
    ['a function error', { StatusCode: 202, FunctionError: 'Unhandled' }],
  ] as const) {
    it(`fails with ProvisionerInvokeError on ${what}`, async () => {
      // Prepare
      lambda.on(InvokeCommand).resolves(output);
      // Act / Assess
      await assert.rejects(new LambdaProvisioner(client, FUNCTION).provision(workspace), (error) => error instanceof ProvisionerInvokeError && !(error instanceof TransientError));
    });
  }

  const transient: [string, () => Error][] = [
    ['TooManyRequestsException (429)', () => serviceError(LambdaServiceException, 'TooManyRequestsException', 429, 'Rate Exceeded.', { Reason: 'CallerRateLimitExceeded' })],
    ['ServiceException (500)', () => serviceError(LambdaServiceException, 'ServiceException', 500, 'An internal error occurred')],
    ['a 503 without a modeled class', () => serviceError(LambdaServiceException, 'ServiceUnavailableException', 503, 'Service unavailable')],
    ['a function still being updated (ResourceConflictException)', () => serviceError(LambdaServiceException, 'ResourceConflictException', 409, 'The operation cannot be performed at this time. The function is currently in the following state: Pending')],
    ['a timeout', timeoutError],
    ['a reset connection', connectionReset],
  ];
  for (const [what, make] of transient) {
    it(`wraps ${what} in a TransientError with the cause`, async () => {
      // Prepare
      const cause = make();
      lambda.on(InvokeCommand).rejects(cause);
      // Act / Assess
      await assert.rejects(new LambdaProvisioner(client, FUNCTION).provision(workspace), (error) => error instanceof TransientError && error.cause === cause);
    });
  }

  for (const [what, make] of [
    ['a missing function', () => serviceError(LambdaServiceException, 'ResourceNotFoundException', 404, `Function not found: arn:aws:lambda:eu-west-2:123456789012:function:${FUNCTION}`)],
    ['access denied', () => serviceError(LambdaServiceException, 'AccessDeniedException', 403, 'not authorized to perform: lambda:InvokeFunction')],
    ['a payload Lambda refuses', () => clientError(LambdaServiceException, 'InvalidRequestContentException', 'Could not parse request body into json')],
  ] as const) {
    it(`passes ${what} on as is (retrying cannot help)`, async () => {
      // Prepare
      const cause = make();
      lambda.on(InvokeCommand).rejects(cause);
      // Act / Assess
      await assert.rejects(new LambdaProvisioner(client, FUNCTION).provision(workspace), (error) => error === cause);
    });
  }
});
