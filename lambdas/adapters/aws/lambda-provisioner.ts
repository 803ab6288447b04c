/**
 * Hands provisioning to the provisioner Lambda (EC2 workspaces; lambdas/handlers/entry/provision.ts) with
 * one asynchronous invocation: Lambda queues the event and answers 202 at once, so the compute event that
 * moved the workspace into `provisioning` never waits on SSH. The provisioner reports `tool-ready` or
 * `failed` itself, and the `provisioning` deadline catches an invocation that never reports.
 *
 * The payload names the record and its generation only: the provisioner re-reads the record and does
 * nothing unless it is still `provisioning` in that generation (so a duplicate or late invocation is
 * harmless).
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { CarrelError, TransientError } from '../../core/errors.js';
import type { ProvisionerPort } from '../../core/ports.js';
import type { Workspace } from '../../core/workspace.js';
import { isTransientAwsError } from './clients/errors.js';

/** What the provisioner Lambda receives. */
export interface ProvisionRequest {
  readonly analysisId: string;
  readonly userId: string;
  readonly generation: number;
}

/** The invocation was not accepted (Lambda answered, but not with 202 Accepted). */
export class ProvisionerInvokeError extends CarrelError {}

/**
 * Lambda errors that pass when retried: throttling (TooManyRequestsException, 429), 5xx
 * (ServiceException and the EC2/ENI errors Lambda reports while preparing a VPC function), and a
 * function still being created or updated (ResourceConflictException / ResourceNotReadyException).
 */
const LAMBDA_TRANSIENT = new Set([
  'TooManyRequestsException',
  'ServiceException',
  'EC2ThrottledException',
  'EC2UnexpectedException',
  'ENILimitReachedException',
  'ResourceConflictException',
  'ResourceNotReadyException',
  'SubnetIPAddressLimitReachedException',
]);

export class LambdaProvisioner implements ProvisionerPort {
  constructor(
    private readonly lambda: LambdaClient,
    private readonly functionName: string,
  ) {}

  async provision(workspace: Workspace): Promise<void> {
    const request: ProvisionRequest = { analysisId: workspace.analysisId, userId: workspace.userId, generation: workspace.generation };
    let result;
    try {
      result = await this.lambda.send(
        new InvokeCommand({ FunctionName: this.functionName, InvocationType: 'Event', Payload: new TextEncoder().encode(JSON.stringify(request)) }),
      );
    } catch (error) {
      const name = error && typeof error === 'object' ? (error as { name?: string }).name : undefined;
      if ((name && LAMBDA_TRANSIENT.has(name)) || isTransientAwsError(error)) {
        throw new TransientError(`The provisioner could not be started for now: ${(error as Error).message}`, { cause: error });
      }
      throw error;
    }
    if (result.FunctionError) {
      throw new ProvisionerInvokeError(`The provisioner failed to start (${result.FunctionError})`);
    }
    if (result.StatusCode !== 202) {
      throw new ProvisionerInvokeError(`The provisioner invocation was not accepted (status ${result.StatusCode ?? 'missing'}, expected 202)`);
    }
  }
}
