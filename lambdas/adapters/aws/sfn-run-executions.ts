/**
 * RunExecutions over Step Functions: StartExecution of the enclave state machine, named by the run id, with the
 * input `{analysisId, runId, submittedBy}` (the archive step needs the submitter to find the home; a user id is
 * no secret, and execution data is logged).
 * The name makes the start idempotent: a retried submit (or a retried Lambda) that starts the same run again
 * gets the execution that exists (Standard workflows answer a same-name, same-input start with it, and
 * ExecutionAlreadyExists once it has finished or when the input differs: either way the run's execution is
 * there). Throttling, 5xx and timeouts become TransientError (503, try again); anything else (the machine is
 * gone, a bad ARN) is a deployment fault and is rethrown as is.
 */
import { StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { ValidationError } from '../../core/errors.js';
import type { RunExecutions } from '../../core/runs/deps.js';
import type { RunKey } from '../../core/runs/run.js';
import { rethrowAwsError } from './clients/errors.js';

/** Step Functions execution names: 1-80 characters, letters, digits, `-` and `_` (so they also work in CloudWatch). */
const EXECUTION_NAME = /^[A-Za-z0-9_-]{1,80}$/;

export interface SfnRunExecutionsOptions {
  /** The enclave state machine. */
  readonly stateMachineArn: string;
}

export class SfnRunExecutions implements RunExecutions {
  constructor(
    private readonly sfn: SFNClient,
    private readonly options: SfnRunExecutionsOptions,
  ) {}

  async start(key: RunKey & { readonly submittedBy: string }): Promise<{ readonly executionId: string }> {
    const name = key.runId;
    if (!EXECUTION_NAME.test(name)) throw new ValidationError(`Run id "${name}" cannot name a Step Functions execution (1-80 letters, digits, - or _)`);
    try {
      const out = await this.sfn.send(
        new StartExecutionCommand({ stateMachineArn: this.options.stateMachineArn, name, input: JSON.stringify({ analysisId: key.analysisId, runId: key.runId, submittedBy: key.submittedBy }) }),
      );
      return { executionId: out.executionArn ?? executionArnOf(this.options.stateMachineArn, name) };
    } catch (error) {
      if ((error as { name?: string } | undefined)?.name === 'ExecutionAlreadyExists') return { executionId: executionArnOf(this.options.stateMachineArn, name) };
      return rethrowAwsError(error, 'Starting the enclave run');
    }
  }
}

/** `arn:<p>:states:<r>:<a>:stateMachine:<m>` → `arn:<p>:states:<r>:<a>:execution:<m>:<name>`. */
export function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}
