/**
 * Runs the enclave state machine locally: the definition synthesized from the one CDK construct
 * (definition.ts), executed by aws-local-stepfunctions with a local handler for every Task, chosen by the
 * Task's Resource exactly as the service integration would behave on AWS:
 * - `lambda:invoke`: the payload (a core StepInput) goes to `runStep`, as the step Lambda would;
 * - `lambda:invoke.waitForTaskToken`: the same, with a token minted by LocalTaskTokens; the task ends when
 *   a decision calls `succeed`/`fail` with it (aws-local-stepfunctions has no callback pattern of its own);
 * - `codebuild:startBuild.sync` and `ecs:runTask.sync`: the local build and run, given the same
 *   environment (RUN_ID, ANALYSIS_ID) the CodeBuild project and the ECS container get.
 * A Task whose Resource has no local handler is refused when the runner is built, not when a run reaches it.
 */
import './polyfill.js';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import type { Log } from '../../lambdas/core/ports.js';
import type { RunExecutions } from '../../lambdas/core/runs/deps.js';
import type { RunKey } from '../../lambdas/core/runs/run.js';
import { runStep, type StepDeps, type StepInput } from '../../lambdas/core/runs/steps.js';
import type { LocalTaskTokens } from './task-tokens.js';

export interface LocalBuildAndRun {
  /** What the CodeBuild project does: prepare the approved code for the run. */
  build(key: RunKey): Promise<void>;
  /** What the ECS task does: run it; the exit code is the run's. */
  run(key: RunKey): Promise<{ readonly exitCode: number }>;
}

export interface ExecutionResult {
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly output?: unknown;
  readonly error?: string;
}

type Json = Record<string, unknown>;
type Handler = (input: Json) => Promise<Json>;

function envOf(pairs: unknown, value: 'Value'): Record<string, string> {
  return Object.fromEntries((Array.isArray(pairs) ? pairs : []).map((p: Json) => [String(p.Name), String(p[value])]));
}

function keyOfEnv(env: Record<string, string>): RunKey {
  if (!env.RUN_ID || !env.ANALYSIS_ID) throw new Error('The task was started without RUN_ID and ANALYSIS_ID');
  return { analysisId: env.ANALYSIS_ID, runId: env.RUN_ID };
}

export class LocalEnclaveRunner implements RunExecutions {
  private readonly machine: StateMachine;
  private readonly handlers: Record<string, Handler>;
  private readonly executions = new Map<string, { abort: () => void; result: Promise<ExecutionResult> }>();

  constructor(
    definition: Json,
    private readonly deps: StepDeps,
    private readonly tokens: LocalTaskTokens,
    private readonly local: LocalBuildAndRun,
    private readonly log: Log,
  ) {
    const states = definition.States as Record<string, Json>;
    this.handlers = {};
    for (const [name, state] of Object.entries(states)) {
      if (state.Type === 'Parallel' || state.Type === 'Map') throw new Error(`State ${name}: nested machines are not run locally`);
      if (state.Type === 'Task') this.handlers[name] = this.handlerFor(name, String(state.Resource));
    }
    this.machine = new StateMachine(definition as unknown as StateMachineDefinition, { validationOptions: { checkArn: true, checkPaths: true } });
  }

  private handlerFor(name: string, resource: string): Handler {
    switch (resource) {
      case 'arn:aws:states:::lambda:invoke':
        return async (input) => ({ Payload: await runStep(this.deps, input.Payload as StepInput), StatusCode: 200, ExecutedVersion: '$LATEST' });
      case 'arn:aws:states:::lambda:invoke.waitForTaskToken':
        return async (input) => {
          const token = this.tokens.mint();
          const decided = this.tokens.wait(token);
          try {
            await runStep(this.deps, { ...(input.Payload as StepInput), taskToken: token } as StepInput);
          } catch (error) {
            this.tokens.cancel(token);
            throw error;
          }
          return (await decided) as Json;
        };
      case 'arn:aws:states:::codebuild:startBuild.sync':
        return async (input) => {
          await this.local.build(keyOfEnv(envOf(input.EnvironmentVariablesOverride, 'Value')));
          return { Build: { BuildStatus: 'SUCCEEDED' } };
        };
      case 'arn:aws:states:::ecs:runTask.sync':
        return async (input) => {
          const overrides = (input.Overrides as { ContainerOverrides?: Json[] } | undefined)?.ContainerOverrides ?? [];
          const { exitCode } = await this.local.run(keyOfEnv(envOf(overrides[0]?.Environment, 'Value')));
          // The shape of DescribeTasks for a stopped task, which runTask.sync returns.
          return { LastStatus: 'STOPPED', StopCode: 'EssentialContainerExited', Containers: [{ ExitCode: exitCode }] };
        };
      default:
        throw new Error(`Task ${name}: no local handler for ${resource}`);
    }
  }

  async start(key: RunKey & { readonly submittedBy: string }): Promise<{ readonly executionId: string }> {
    const executionId = `local:${key.analysisId}:${key.runId}`;
    if (this.executions.has(executionId)) return { executionId };
    const execution = this.machine.run(
      // The input StartExecution gets on AWS (SfnRunExecutions).
      { analysisId: key.analysisId, runId: key.runId, submittedBy: key.submittedBy },
      {
        overrides: { taskResourceLocalHandlers: this.handlers as never },
        // `$$.Task.Token` must resolve; each waiting task replaces it with a token of its own.
        context: { Task: { Token: 'minted-per-task-by-the-local-runner' }, Execution: { Id: executionId, Name: key.runId } },
      },
    );
    const result = execution.result.then(
      (output): ExecutionResult => ({ status: 'SUCCEEDED', output }),
      (error: unknown): ExecutionResult => {
        this.log.warn('enclave execution failed', { executionId, error: error instanceof Error ? error.message : String(error) });
        return { status: 'FAILED', error: error instanceof Error ? error.message : String(error) };
      },
    );
    this.executions.set(executionId, { abort: execution.abort, result });
    return { executionId };
  }

  /** Whether this process runs the run's execution (a run from before a restart has none). */
  isRunning(key: RunKey): boolean {
    return this.executions.has(`local:${key.analysisId}:${key.runId}`);
  }

  /** The end of an execution (tests, and the local runtime's shutdown). */
  settled(executionId: string): Promise<ExecutionResult> {
    const execution = this.executions.get(executionId);
    if (!execution) throw new Error(`No execution ${executionId}`);
    return execution.result;
  }

  /** Abort every execution still running (a waiting review, a running run). */
  stop(): void {
    for (const execution of this.executions.values()) execution.abort();
    // Aborted first, so the rejected waits lead nowhere; they only let the task timers be cleared.
    this.tokens.abortAll();
  }
}
