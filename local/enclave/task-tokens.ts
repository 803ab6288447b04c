/**
 * Task tokens in local mode. aws-local-stepfunctions has no `.waitForTaskToken`: the local handler of such
 * a task mints a token here, hands it to the step (which stores it on the run, as on AWS), and returns
 * `wait(token)`, a promise that `succeed`/`fail` (the local SendTaskSuccess/SendTaskFailure) settles.
 */
import { randomBytes } from 'node:crypto';
import { ConflictError } from '../../lambdas/core/errors.js';
import type { TaskTokens } from '../../lambdas/core/runs/ports.js';

/** A step failed through SendTaskFailure: the state machine sees `error` as the error name. */
export class TaskFailure extends Error {
  constructor(error: string, cause: string) {
    super(cause);
    this.name = error;
  }
}

export class LocalTaskTokens implements TaskTokens {
  private readonly waiting = new Map<string, { resolve: (output: Record<string, unknown>) => void; reject: (error: Error) => void }>();

  mint(): string {
    return `local-task-${randomBytes(24).toString('base64url')}`;
  }

  /** Register before handing the token out, so an immediate decision is never lost. */
  wait(token: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => this.waiting.set(token, { resolve, reject }));
  }

  /** Forget a token whose step failed before it could wait. */
  cancel(token: string): void {
    this.waiting.delete(token);
  }

  /**
   * Reject every waiting step (the runtime is shutting down and its executions were aborted first, so no
   * state runs after this). Without it the library's task timer (7 days for a review) keeps the process alive.
   */
  abortAll(reason = 'The local runtime stopped'): void {
    for (const [token, waiter] of this.waiting) {
      this.waiting.delete(token);
      waiter.reject(new TaskFailure('States.Runtime', reason));
    }
  }

  get pending(): number {
    return this.waiting.size;
  }

  async succeed(token: string, output: Record<string, unknown>): Promise<void> {
    this.take(token).resolve(output);
  }

  async fail(token: string, error: string, cause: string): Promise<void> {
    this.take(token).reject(new TaskFailure(error, cause));
  }

  private take(token: string) {
    const waiter = this.waiting.get(token);
    // As SendTaskSuccess answers TaskTimedOut/InvalidToken for a token no step waits on.
    if (!waiter) throw new ConflictError('No step waits on this task token (it completed, timed out or never existed)');
    this.waiting.delete(token);
    return waiter;
  }
}
