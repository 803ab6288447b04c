/**
 * The enclave state machine as synthesized from its one construct: a valid ASL definition (asl-validator),
 * JSONPath only, every Task with Retry, Catch States.ALL and TimeoutSeconds, every terminal state reached
 * only after a notifying step, timeouts from the run policy, and the least-privilege role.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { before, describe, it } from 'node:test';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { DEFAULT_RUN_POLICY } from '../../lambdas/core/runs/policy.js';
import { ENCLAVE_STEPS } from '../../lambdas/core/runs/steps.js';
import { enclaveStack, localFunctionArn, resolvedDefinition } from '../../local/enclave/definition.js';

const aslValidator = createRequire(import.meta.url)('asl-validator') as (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errorsText: (separator?: string) => string };

type State = {
  Type: string;
  Resource?: string;
  Next?: string;
  End?: boolean;
  Default?: string;
  Choices?: { Next: string }[];
  Catch?: { ErrorEquals: string[]; Next: string }[];
  Retry?: { ErrorEquals: string[] }[];
  TimeoutSeconds?: number;
  Parameters?: { Payload?: { step?: string } };
  [other: string]: unknown;
};
type Definition = { StartAt: string; States: Record<string, State>; [other: string]: unknown };

let template: Template;
let definition: Definition;

before(() => {
  template = Template.fromStack(enclaveStack().stack);
  definition = resolvedDefinition(template) as Definition;
});

const tasks = () => Object.entries(definition.States).filter(([, s]) => s.Type === 'Task');
const edges = (s: State) => [s.Next, s.Default, ...(s.Choices ?? []).map((c) => c.Next), ...(s.Catch ?? []).map((c) => c.Next)].filter((n): n is string => !!n);

describe('enclave state machine definition', () => {
  it('is valid ASL (asl-validator, with ARN and path checks)', () => {
    // Act
    const result = aslValidator(structuredClone(definition), { checkArn: true, checkPaths: true });
    // Assess
    assert.equal(result.isValid, true, result.errorsText('\n'));
  });

  it('is JSONPath only: no JSONata, no variables', () => {
    const text = JSON.stringify(definition);
    assert.equal(definition.QueryLanguage, undefined);
    for (const field of ['"QueryLanguage"', '"Assign"', '"Arguments"', '"Output"', '{%']) assert.equal(text.includes(field), false, field);
  });

  it('every Task has a Retry, a Catch of States.ALL and a TimeoutSeconds', () => {
    // Prepare
    const all = tasks();
    // Assess
    assert.equal(all.length, 17);
    for (const [name, state] of all) {
      assert.ok((state.Retry ?? []).length > 0, `${name} has no Retry`);
      assert.ok((state.Catch ?? []).some((c) => c.ErrorEquals.includes('States.ALL')), `${name} does not catch States.ALL`);
      assert.ok(Number.isInteger(state.TimeoutSeconds) && state.TimeoutSeconds! > 0, `${name} has no TimeoutSeconds`);
    }
  });

  it('retries only what is transient: never States.ALL or States.TaskFailed', () => {
    for (const [name, state] of tasks()) {
      for (const retrier of state.Retry!) {
        assert.equal(retrier.ErrorEquals.some((e) => e === 'States.ALL' || e === 'States.TaskFailed'), false, name);
      }
    }
  });

  it('every path ends in a terminal state, reached only through a step that records and notifies', () => {
    // Prepare: who leads into each state
    const into = new Map<string, string[]>();
    for (const [name, state] of Object.entries(definition.States)) for (const next of edges(state)) into.set(next, [...(into.get(next) ?? []), name]);
    const terminals = Object.entries(definition.States).filter(([, s]) => s.Type === 'Succeed' || s.Type === 'Fail' || s.End);
    // Assess
    assert.deepEqual(terminals.map(([n]) => n).sort(), ['Failed', 'FailedUnnotified', 'Rejected', 'Released', 'Withheld']);
    for (const [name] of terminals) {
      for (const from of into.get(name) ?? []) {
        const step = definition.States[from]!.Parameters?.Payload?.step;
        assert.ok(step === 'finish' || step === 'release', `${name} is reached from ${from}, which notifies nobody`);
      }
    }
    // Only the failure step's own Catch skips the notification (nothing is left to notify with).
    assert.deepEqual(into.get('FailedUnnotified'), ['FailRun']);
    // Every non-terminal state leads somewhere, and every state is reachable from StartAt.
    const seen = new Set<string>();
    const walk = (n: string) => {
      if (seen.has(n)) return;
      seen.add(n);
      edges(definition.States[n]!).forEach(walk);
    };
    walk(definition.StartAt);
    assert.equal(seen.size, Object.keys(definition.States).length);
  });

  it('makes the run its own credentials after MarkBuilding, before the build, and never before code approval', () => {
    // Assess
    assert.equal(definition.States.MarkBuilding!.Next, 'PrepareRun');
    assert.equal(definition.States.PrepareRun!.Parameters?.Payload?.step, 'prepare-run');
    assert.equal(definition.States.PrepareRun!.Next, 'BuildImage');
    const before = new Set<string>();
    const walk = (n: string) => {
      if (before.has(n) || n === 'MarkBuilding') return;
      before.add(n);
      edges(definition.States[n]!).forEach(walk);
    };
    walk(definition.StartAt);
    assert.equal(before.has('PrepareRun'), false, 'PrepareRun is reached only through MarkBuilding (code approved)');
  });

  it('cleans up on every path once the run could exist, and a failed clean-up never changes the outcome', () => {
    // Prepare
    const cleanUps = Object.entries(definition.States).filter(([, s]) => s.Parameters?.Payload?.step === 'clean-up').map(([n]) => n).sort();
    const CLEAN_UPS = new Set(cleanUps);
    // Act: from PrepareRun, walk the graph without passing a clean-up
    const reached = new Set<string>();
    const walk = (n: string) => {
      if (reached.has(n) || CLEAN_UPS.has(n)) return;
      reached.add(n);
      edges(definition.States[n]!).forEach(walk);
    };
    walk('PrepareRun');
    // Assess
    assert.deepEqual(cleanUps, ['CleanUpFailedRun', 'CleanUpRun']);
    const terminals = [...reached].filter((n) => ['Succeed', 'Fail'].includes(definition.States[n]!.Type));
    assert.deepEqual(terminals, [], 'no terminal state is reached from PrepareRun without a clean-up');
    assert.equal(definition.States.RunInEnclave!.Next, 'CleanUpRun');
    for (const [name, next] of [['CleanUpRun', 'CollectOutputs'], ['CleanUpFailedRun', 'FailRun']] as const) {
      const state = definition.States[name]!;
      assert.equal(state.Next, next);
      assert.deepEqual(state.Catch, [{ ErrorEquals: ['States.ALL'], Next: next, ResultPath: '$.cleanUpError' }], `${name}: its failure goes on to ${next}, keeping $.error`);
    }
    // Every other step's failure is cleaned up before it is recorded (FailRun then runs even if clean-up failed).
    for (const [name, state] of tasks()) {
      if (CLEAN_UPS.has(name) || name === 'FailRun') continue;
      assert.deepEqual(state.Catch!.map((c) => c.Next), ['CleanUpFailedRun'], name);
    }
  });

  it('waits for reviewers with a task token, for as long as the policy allows', () => {
    for (const [name, review] of [['RequestCodeReview', 'code-review'], ['RequestOutputReview', 'output-review']] as const) {
      const state = definition.States[name]!;
      assert.equal(state.Resource, 'arn:aws:states:::lambda:invoke.waitForTaskToken');
      assert.deepEqual((state.Parameters!.Payload as Record<string, unknown>)['taskToken.$'], '$$.Task.Token');
      assert.equal(state.TimeoutSeconds, DEFAULT_RUN_POLICY.deadlines[review] / 1000);
    }
  });

  it('task timeouts follow the run policy', () => {
    // Prepare
    const policy = { ...DEFAULT_RUN_POLICY, deadlines: { ...DEFAULT_RUN_POLICY.deadlines, 'code-review': 3_600_000, running: 600_000 } };
    // Act
    const custom = resolvedDefinition(Template.fromStack(enclaveStack(policy).stack)) as Definition;
    // Assess
    assert.equal(custom.States.RequestCodeReview!.TimeoutSeconds, 3600);
    assert.equal(custom.States.RunInEnclave!.TimeoutSeconds, 600);
    assert.equal(custom.States.BuildImage!.TimeoutSeconds, 3600);
  });

  it('starts by archiving the home (ArchiveHome, from the input\'s submitter), whose digest VerifyArchive takes and records', () => {
    // Prepare
    const archive = definition.States.ArchiveHome!;
    const verify = definition.States.VerifyArchive!;
    // Assess
    assert.equal(definition.StartAt, 'ArchiveHome');
    assert.equal(archive.Resource, 'arn:aws:states:::lambda:invoke');
    assert.deepEqual(archive.Parameters!.Payload, { step: 'archive-home', 'analysisId.$': '$.analysisId', 'runId.$': '$.runId', 'submittedBy.$': '$.submittedBy' });
    assert.deepEqual(archive.ResultSelector, { 'digest.$': '$.Payload.digest', 'files.$': '$.Payload.files', 'totalBytes.$': '$.Payload.totalBytes' });
    assert.equal(archive.ResultPath, '$.archive');
    assert.equal(archive.Next, 'VerifyArchive');
    assert.deepEqual(archive.Retry!.map((r) => r.ErrorEquals).flat().sort(), ['ConcurrentUpdateError', 'Lambda.AWSLambdaException', 'Lambda.ClientExecutionTimeoutException', 'Lambda.SdkClientException', 'Lambda.ServiceException', 'TransientError'].sort());
    // Caught into the failure path every task takes (which records the failure and tells the researcher).
    assert.deepEqual(archive.Catch, verify.Catch);
    assert.deepEqual(archive.Catch!.map((c) => c.ErrorEquals), [['States.ALL']]);
    assert.equal(archive.TimeoutSeconds, DEFAULT_RUN_POLICY.deadlines.archiving / 1000);
    assert.deepEqual(verify.Parameters!.Payload, { step: 'verify-archive', 'analysisId.$': '$.analysisId', 'runId.$': '$.runId', 'manifestDigest.$': '$.archive.digest' });
  });

  it("caps the archive step's timeout at Lambda's 15 minutes", () => {
    // Act
    const custom = resolvedDefinition(Template.fromStack(enclaveStack({ ...DEFAULT_RUN_POLICY, deadlines: { ...DEFAULT_RUN_POLICY.deadlines, archiving: 3_600_000 } }).stack)) as Definition;
    const short = resolvedDefinition(Template.fromStack(enclaveStack({ ...DEFAULT_RUN_POLICY, deadlines: { ...DEFAULT_RUN_POLICY.deadlines, archiving: 120_000 } }).stack)) as Definition;
    // Assess
    assert.equal(custom.States.ArchiveHome!.TimeoutSeconds, 900);
    assert.equal(short.States.ArchiveHome!.TimeoutSeconds, 120);
  });

  it('builds with CodeBuild and runs on Fargate without a public IP, both as .sync jobs', () => {
    assert.equal(definition.States.BuildImage!.Resource, 'arn:aws:states:::codebuild:startBuild.sync');
    const run = definition.States.RunInEnclave!;
    assert.equal(run.Resource, 'arn:aws:states:::ecs:runTask.sync');
    const network = (run.Parameters as unknown as { NetworkConfiguration: { AwsvpcConfiguration: Record<string, unknown> } }).NetworkConfiguration.AwsvpcConfiguration;
    assert.notEqual(network.AssignPublicIp, 'ENABLED');
  });
});

describe('enclave state machine resources', () => {
  it('logs every execution event and traces with X-Ray', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: Match.objectLike({ Level: 'ALL' }),
    });
  });

  it('its role may invoke exactly the step functions, and has no wildcard action', () => {
    // Prepare
    const policies = Object.values(template.findResources('AWS::IAM::Policy'));
    const statements = policies.flatMap((p) => (p as { Properties: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } } }).Properties.PolicyDocument.Statement);
    const invoke = statements.filter((s) => [s.Action].flat().includes('lambda:InvokeFunction'));
    const invoked = new Set(invoke.flatMap((s) => [s.Resource].flat()).filter((r): r is string => typeof r === 'string' && !r.endsWith(':*')));
    // Assess
    assert.deepEqual([...invoked].sort(), ENCLAVE_STEPS.map(localFunctionArn).sort());
    for (const s of statements) for (const action of [s.Action].flat()) assert.ok(action !== '*' && !action.endsWith(':*'), `wildcard action ${action}`);
  });
});
