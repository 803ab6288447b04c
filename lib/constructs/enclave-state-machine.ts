/**
 * The enclave state machine, defined once: AWS deploys it, and the local runtime runs the very same
 * synthesized definition (local/enclave/). JSONPath only (local execution ignores JSONata and variables).
 *
 *   ArchiveHome → VerifyArchive → RequestCodeReview (task token) → CodeDecision
 *     approved → MarkBuilding → PrepareRun (the run's own task role) → BuildImage (CodeBuild .sync)
 *       → MarkRunning → RunInEnclave (ECS .sync) → CleanUpRun → CollectOutputs → CheckDisclosure
 *       → RequestOutputReview (task token) → OutputDecision
 *         approved → Release → Released
 *         else     → Withhold → Withheld
 *     else → Reject → Rejected
 *   any task fails (Catch States.ALL, after its Retry) → CleanUpFailedRun → FailRun (records + notifies) → Failed
 *   (a clean-up's own failure is caught and the run goes on to its outcome: it never changes one)
 *
 * Every Lambda task's payload is a core `StepInput` (lambdas/core/runs/steps.ts): `step` plus the run's
 * key. The run record holds the state; the execution's JSON carries only the key and the submitter (the
 * input), what ArchiveHome archived (`$.archive`: digest, file count, bytes), the review outcomes, the run's
 * exit code and, on failure, the error. Task timeouts come from the same `RunPolicy` the
 * record's deadlines use.
 */
import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { DEFAULT_RUN_POLICY, type RunPolicy } from '../../lambdas/core/runs/policy.js';
import type { EnclaveStep } from '../../lambdas/core/runs/steps.js';

/** Errors a Lambda step throws when a retry may help (core TransientError, a lost conditional write). */
export const TRANSIENT_STEP_ERRORS = ['TransientError', 'ConcurrentUpdateError'] as const;
/**
 * Service errors of the .sync integrations worth retrying (capacity, throttling), as Step Functions names
 * them (`<Service>.<Exception>`). A failed build or a crashed run is not among them: retrying would not help.
 */
export const TRANSIENT_BUILD_ERRORS = ['CodeBuild.AccountLimitExceededException', 'CodeBuild.ThrottlingException'] as const;
export const TRANSIENT_RUN_ERRORS = ['ECS.AmazonECSException', 'ECS.ServerException', 'ECS.LimitExceededException', 'ECS.ThrottlingException'] as const;

/** Timeout of the quick Lambda steps (verify, advance, release, finish). */
export const STEP_TIMEOUT = Duration.minutes(5);
/** Lambda's own ceiling: archive, collect and check get their policy deadline, capped here. */
const LAMBDA_MAX = Duration.minutes(15);

export interface EnclaveStateMachineProps {
  /** Names the state machine and its log group. */
  readonly deploymentId: string;
  /** The function behind each Lambda step (one function may serve several steps). */
  readonly steps: Readonly<Record<EnclaveStep, lambda.IFunction>>;
  /** Builds the run image from the approved archive (environment: RUN_ID, ANALYSIS_ID). */
  readonly buildProject: codebuild.IProject;
  /** Where the run executes. */
  readonly cluster: ecs.ICluster;
  /** The run's Fargate task: one container, whose exit code is the run's. */
  readonly runTask: ecs.FargateTaskDefinition;
  readonly runContainer: ecs.ContainerDefinition;
  /** Isolated subnets (no route out) for the run. */
  readonly runSubnets: ec2.SubnetSelection;
  /** Security groups of the run (no egress). */
  readonly runSecurityGroups: readonly ec2.ISecurityGroup[];
  /**
   * ARN pattern of the per-run task roles the build puts into each run's task definition (RunTask needs
   * iam:PassRole for them, to ECS tasks only). Unset: only the template's roles are passable.
   */
  readonly runRoleArns?: string;
  /** Deadlines become task timeouts. @default DEFAULT_RUN_POLICY */
  readonly policy?: RunPolicy;
  /** Retention of the execution log. @default logs.RetentionDays.ONE_YEAR */
  readonly logRetention?: logs.RetentionDays;
}

const seconds = (ms: number) => Duration.seconds(Math.ceil(ms / 1000));

/** The task definition family a run executes: the build registers it, with the run's own image by digest. */
export function runTaskFamily(templateFamily: string, runId: string): string {
  return `${templateFamily}-${runId}`;
}

/**
 * RunTask of the run's own task definition family (`runTaskFamily`, latest revision), chosen from the
 * execution's `$.runId`: each run has its own image (`<repo>@<digest>`), and ECS cannot override a
 * container's image at RunTask. `runTask` is the template the build registers from. The state machine may
 * run these families only, and only on the enclave's cluster.
 */
class PerRunEcsTask extends tasks.EcsRunTask {
  private readonly templateFamily: string;

  constructor(scope: Construct, id: string, props: tasks.EcsRunTaskProps & { readonly runRoleArns?: string }) {
    super(scope, id, props);
    this.templateFamily = props.taskDefinition.family;
    const stack = Stack.of(this);
    this.taskPolicies?.push(
      new iam.PolicyStatement({
        actions: ['ecs:RunTask'],
        resources: [stack.formatArn({ service: 'ecs', resource: 'task-definition', resourceName: `${runTaskFamily(this.templateFamily, '*')}:*`, arnFormat: ArnFormat.SLASH_RESOURCE_NAME })],
        conditions: { ArnEquals: { 'ecs:cluster': props.cluster.clusterArn } },
      }),
    );
    if (props.runRoleArns) {
      this.taskPolicies?.push(
        new iam.PolicyStatement({
          actions: ['iam:PassRole'],
          resources: [props.runRoleArns],
          conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
        }),
      );
    }
  }

  protected override _renderTask(topLevelQueryLanguage?: sfn.QueryLanguage): Record<string, unknown> {
    const rendered = super._renderTask(topLevelQueryLanguage) as { Parameters: Record<string, unknown> };
    const { TaskDefinition: _template, ...parameters } = rendered.Parameters;
    return { ...rendered, Parameters: { ...parameters, 'TaskDefinition.$': `States.Format('${runTaskFamily(this.templateFamily, '{}')}', $.runId)` } };
  }
}

export class EnclaveStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: EnclaveStateMachineProps) {
    super(scope, id);
    const policy = props.policy ?? DEFAULT_RUN_POLICY;
    const key = { analysisId: sfn.JsonPath.stringAt('$.analysisId'), runId: sfn.JsonPath.stringAt('$.runId') };

    const failed = new sfn.Fail(this, 'Failed', { error: 'RunFailed', cause: 'The run failed; the researcher was notified' });
    // Reached only if recording the failure itself keeps failing: the execution's own failure is then the signal.
    const failedUnnotified = new sfn.Fail(this, 'FailedUnnotified', { error: 'RunFailedUnnotified', cause: 'The run failed and the failure could not be recorded' });

    const lambdaStep = (name: string, step: EnclaveStep, extra: Record<string, unknown>, timeout: Duration, options: Partial<tasks.LambdaInvokeProps> = {}) => {
      const task = new tasks.LambdaInvoke(this, name, {
        lambdaFunction: props.steps[step],
        payload: sfn.TaskInput.fromObject({ step, ...key, ...extra }),
        resultPath: sfn.JsonPath.DISCARD,
        taskTimeout: sfn.Timeout.duration(timeout),
        retryOnServiceExceptions: true,
        ...options,
      });
      task.addRetry({ errors: [...TRANSIENT_STEP_ERRORS], interval: Duration.seconds(2), maxAttempts: 4, backoffRate: 2, jitterStrategy: sfn.JitterType.FULL });
      return task;
    };

    const failRun = lambdaStep('FailRun', 'finish', { outcome: 'failed', error: sfn.JsonPath.objectAt('$.error') }, STEP_TIMEOUT);
    failRun.addCatch(failedUnnotified, { errors: [sfn.Errors.ALL], resultPath: '$.finishError' });
    failRun.next(failed);
    // Clean-up (the run's own role and task definitions) never decides an outcome: its failure, after its
    // retries, is kept beside the state (`$.cleanUpError`) and the run goes on. What it leaves is tagged and
    // listed by `npm run admin -- resources`. On failure it runs before FailRun, so it runs even if FailRun fails.
    const cleanUp = (name: string, next: sfn.IChainable) =>
      lambdaStep(name, 'clean-up', {}, STEP_TIMEOUT).addCatch(next, { errors: [sfn.Errors.ALL], resultPath: '$.cleanUpError' }).next(next);
    const cleanUpFailed = cleanUp('CleanUpFailedRun', failRun);
    const catchAll = <T extends sfn.TaskStateBase>(task: T): T => {
      task.addCatch(cleanUpFailed, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
      return task;
    };

    const reviewStep = (name: string, review: 'code-review' | 'output-review', resultPath: string) =>
      catchAll(
        lambdaStep(name, 'request-review', { review, taskToken: sfn.JsonPath.taskToken }, seconds(policy.deadlines[review]), {
          integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
          // The decision completes the step with `{ outcome, step }`.
          resultPath,
        }),
      );

    const capped = (ms: number) => (ms > LAMBDA_MAX.toMilliseconds() ? LAMBDA_MAX : seconds(ms));
    // The home is archived by the function that mounts the homes, which reads no table: it gets the submitter
    // from the execution's input and hands the digest on; VerifyArchive checks it and records it on the run.
    const archive = catchAll(
      lambdaStep('ArchiveHome', 'archive-home', { submittedBy: sfn.JsonPath.stringAt('$.submittedBy') }, capped(policy.deadlines.archiving), {
        resultSelector: { 'digest.$': '$.Payload.digest', 'files.$': '$.Payload.files', 'totalBytes.$': '$.Payload.totalBytes' },
        resultPath: '$.archive',
      }),
    );
    const verify = catchAll(lambdaStep('VerifyArchive', 'verify-archive', { manifestDigest: sfn.JsonPath.stringAt('$.archive.digest') }, STEP_TIMEOUT));
    const codeReview = reviewStep('RequestCodeReview', 'code-review', '$.codeReview');
    const markBuilding = catchAll(lambdaStep('MarkBuilding', 'advance', { to: 'building' }, STEP_TIMEOUT));
    const prepare = catchAll(lambdaStep('PrepareRun', 'prepare-run', {}, STEP_TIMEOUT));

    const environment = { RUN_ID: sfn.JsonPath.stringAt('$.runId'), ANALYSIS_ID: sfn.JsonPath.stringAt('$.analysisId') };
    const build = catchAll(
      new tasks.CodeBuildStartBuild(this, 'BuildImage', {
        project: props.buildProject,
        integrationPattern: sfn.IntegrationPattern.RUN_JOB,
        environmentVariablesOverride: Object.fromEntries(
          Object.entries(environment).map(([name, value]) => [name, { type: codebuild.BuildEnvironmentVariableType.PLAINTEXT, value }]),
        ),
        resultPath: sfn.JsonPath.DISCARD,
        taskTimeout: sfn.Timeout.duration(seconds(policy.deadlines.building)),
      }),
    );
    build.addRetry({ errors: [...TRANSIENT_BUILD_ERRORS], interval: Duration.seconds(30), maxAttempts: 3, backoffRate: 2, jitterStrategy: sfn.JitterType.FULL });

    const markRunning = catchAll(lambdaStep('MarkRunning', 'advance', { to: 'running' }, STEP_TIMEOUT));
    const run = catchAll(
      new PerRunEcsTask(this, 'RunInEnclave', {
        runRoleArns: props.runRoleArns,
        integrationPattern: sfn.IntegrationPattern.RUN_JOB,
        cluster: props.cluster,
        taskDefinition: props.runTask,
        launchTarget: new tasks.EcsFargateLaunchTarget({ platformVersion: ecs.FargatePlatformVersion.LATEST }),
        subnets: props.runSubnets,
        securityGroups: [...props.runSecurityGroups],
        assignPublicIp: false,
        containerOverrides: [
          {
            containerDefinition: props.runContainer,
            environment: Object.entries(environment).map(([name, value]) => ({ name, value })),
          },
        ],
        // A stopped task is a finished .sync step whatever its exit code: collect decides on the code.
        resultSelector: { 'exitCode.$': '$.Containers[0].ExitCode' },
        resultPath: '$.run',
        taskTimeout: sfn.Timeout.duration(seconds(policy.deadlines.running)),
      }),
    );
    run.addRetry({ errors: [...TRANSIENT_RUN_ERRORS], interval: Duration.seconds(30), maxAttempts: 3, backoffRate: 2, jitterStrategy: sfn.JitterType.FULL });

    const collect = catchAll(lambdaStep('CollectOutputs', 'collect-outputs', { exitCode: sfn.JsonPath.numberAt('$.run.exitCode') }, capped(policy.deadlines.collecting)));
    const check = catchAll(lambdaStep('CheckDisclosure', 'check-disclosure', {}, capped(policy.deadlines.checking)));
    const outputReview = reviewStep('RequestOutputReview', 'output-review', '$.outputReview');
    const release = catchAll(lambdaStep('Release', 'release', {}, STEP_TIMEOUT));
    const withhold = catchAll(lambdaStep('Withhold', 'finish', { outcome: 'withheld' }, STEP_TIMEOUT));
    const reject = catchAll(lambdaStep('Reject', 'finish', { outcome: 'rejected' }, STEP_TIMEOUT));

    // Anything but an explicit approval is treated as a rejection: nothing runs or leaves without one.
    const approved = (path: string) => sfn.Condition.stringEquals(path, 'approved');
    const definition = archive
      .next(verify)
      .next(codeReview)
      .next(
        new sfn.Choice(this, 'CodeDecision')
          .when(
            approved('$.codeReview.outcome'),
            markBuilding
              .next(prepare)
              .next(build)
              .next(markRunning)
              .next(run)
              .next(cleanUp('CleanUpRun', collect))
              .next(check)
              .next(outputReview)
              .next(
                new sfn.Choice(this, 'OutputDecision')
                  .when(approved('$.outputReview.outcome'), release.next(new sfn.Succeed(this, 'Released')))
                  .otherwise(withhold.next(new sfn.Succeed(this, 'Withheld'))),
              ),
          )
          .otherwise(reject.next(new sfn.Succeed(this, 'Rejected'))),
      );

    this.logGroup = new logs.LogGroup(this, 'Log', {
      logGroupName: `/aws/vendedlogs/states/carrel-${props.deploymentId}-enclave`,
      retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const total = Object.values(policy.deadlines).reduce((sum, ms) => sum + ms, 0);
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: `carrel-${props.deploymentId}-enclave`,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      comment: 'carrel enclave run: archive, code review, build, run, collect, checks, output review, release',
      // Every state has its own timeout; this is the backstop (the sum of every deadline, plus an hour).
      timeout: Duration.millis(total + 3_600_000),
      tracingEnabled: true,
      // Execution data holds only run keys, the submitter's user id, the archive's digest and size, outcomes and error
      // messages: never secrets or file contents.
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
    });
  }
}
