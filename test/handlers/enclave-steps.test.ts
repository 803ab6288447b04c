import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ValidationError } from '../../lambdas/core/errors.js';
import { ENCLAVE_STEPS } from '../../lambdas/core/runs/steps.js';
import { makeStepHandler } from '../../lambdas/handlers/enclave-steps.js';
import { EnclaveConfigError, enclaveStepDeps, enclaveStepHandler, loadEnclaveEnv } from '../../lambdas/handlers/enclave-wiring.js';
import { ENCLAVE_FUNCTIONS } from '../../lib/constructs/enclave-aws.js';
import { FakeLog } from '../support/fakes.js';
import { archiveHome, runObjectKeys, submitRun } from '../../lambdas/core/runs/use-cases.js';
import { file, KEY, makeRunDeps, submitted } from '../support/run-fakes.js';

const ENV = { TABLE_NAME: 'carrel', RUN_OBJECTS_BUCKET: 'runs-bucket', RUN_OBJECTS_KEY_ID: 'arn:aws:kms:eu-west-2:123456789012:key/k', AWS_REGION: 'eu-west-2', POWERTOOLS_LOG_LEVEL: 'SILENT' };

describe('enclave step handlers', () => {
  it('parse the state machine payload and run the one use case of the step', async () => {
    // Prepare
    const f = makeRunDeps();
    f.snapshots.homes.set('demo/alice', [file('run.sh', 'echo 1\n')]);
    await submitRun(f, { ...KEY, submittedBy: 'alice', description: 'x', objects: runObjectKeys(KEY) });
    const { digest } = await archiveHome(f, KEY, 'alice');
    const handle = makeStepHandler(f, ['verify-archive']);

    // Act
    const out = await handle({ step: 'verify-archive', ...KEY, manifestDigest: digest });

    // Assess
    assert.deepEqual(out, { state: 'submitted' });
    assert.equal(f.runs.peek(KEY).manifestDigest, digest);
    await assert.rejects(handle({ step: 'verify-archive', ...KEY }), (e: unknown) => e instanceof ValidationError && /manifestDigest/.test(e.message));
  });

  it('refuse a malformed payload, naming the field, before touching anything', async () => {
    // Prepare
    const f = makeRunDeps();
    const handle = makeStepHandler(f, ['collect-outputs']);

    // Act + Assess
    await assert.rejects(handle({ step: 'collect-outputs', ...KEY, exitCode: 'zero' }), (e: unknown) => e instanceof ValidationError && /exitCode/.test(e.message));
    await assert.rejects(handle({ step: 'collect-outputs', analysisId: '../x', runId: 'r' }), (e: unknown) => e instanceof ValidationError && /analysisId/.test(e.message));
    assert.equal(f.runs.records.size, 0);
  });

  it('refuse a step the function does not serve (each function has only its own role)', async () => {
    // Prepare
    const f = makeRunDeps();
    await submitted(f);
    const handle = makeStepHandler(f, ['verify-archive']);

    // Act + Assess
    await assert.rejects(handle({ step: 'release', ...KEY }), (e: unknown) => e instanceof ValidationError && /does not run the release step/.test(e.message));
  });

  it('are deployed so that every core step is served by exactly one function', () => {
    // Assess
    const served = Object.values(ENCLAVE_FUNCTIONS).flat();
    assert.deepEqual([...served].sort(), [...ENCLAVE_STEPS].sort());
  });
});

describe('enclave step configuration', () => {
  it('names a missing or bad setting', () => {
    // Act + Assess
    assert.throws(() => loadEnclaveEnv({ ...ENV, TABLE_NAME: undefined }), (e: unknown) => e instanceof EnclaveConfigError && /TABLE_NAME/.test(e.message));
    assert.throws(() => loadEnclaveEnv({ ...ENV, REQUIRED_APPROVALS: '3' }), (e: unknown) => e instanceof EnclaveConfigError && /REQUIRED_APPROVALS must be 1 or 2/.test(e.message));
    assert.throws(() => loadEnclaveEnv({ ...ENV, SMALL_COUNT_THRESHOLD: '1' }), /SMALL_COUNT_THRESHOLD must be at least 2/);
  });

  it('turns the settings into the run policy and reviewers', () => {
    // Act
    const deps = enclaveStepDeps(loadEnclaveEnv({ ...ENV, REQUIRED_APPROVALS: '2', REVIEWER_ROLE: 'tre-reviewer', REVIEWERS: 'rita@uni.example, rob@uni.example', RELEASE_LINK_TTL_SECONDS: '3600' }), {}, new FakeLog());

    // Assess
    assert.equal(deps.policy.requiredApprovals, 2);
    assert.equal(deps.policy.reviewerRole, 'tre-reviewer');
    assert.equal(deps.policy.releaseLinkTtlMs, 3_600_000);
    assert.deepEqual(deps.reviewers, ['rita@uni.example', 'rob@uni.example']);
  });

  it('gives a function only the parts its entry wires: anything else fails when used, naming the part', async () => {
    // Prepare
    const deps = enclaveStepDeps(loadEnclaveEnv(ENV), {}, new FakeLog());

    // Act + Assess
    await assert.rejects(deps.notifier.notify('failed', {} as never, { to: [], message: '' }), /not wired with a notifier/);
    await assert.rejects(deps.tokens.succeed('t', {}), /not wired with task tokens/);
    await assert.rejects(deps.links.link({ analysisId: 'a', runId: 'r' }, new Date()), /not wired with release links/);
    assert.throws(() => deps.reviewPageOf({ analysisId: 'a', runId: 'r' }), /not wired with the desk origin \(DESK_ORIGIN\)/);
  });

  it("links review mail to the desk's review page of the run, from DESK_ORIGIN", () => {
    // Act
    const deps = enclaveStepDeps(loadEnclaveEnv({ ...ENV, DESK_ORIGIN: 'https://desk.uni.example' }), {}, new FakeLog());

    // Assess
    assert.equal(deps.reviewPageOf(KEY), 'https://desk.uni.example/review/demo/run-1');
  });

  it('refuses to start a function that asks for review without the desk origin, naming DESK_ORIGIN', () => {
    // Act + Assess
    assert.throws(() => enclaveStepHandler(['request-review'], {}, ENV), (e: unknown) => e instanceof EnclaveConfigError && /DESK_ORIGIN must be set for the request-review step/.test(e.message));
    assert.throws(() => enclaveStepHandler(['request-review'], {}, { ...ENV, DESK_ORIGIN: 'http://desk.uni.example' }), (e: unknown) => e instanceof EnclaveConfigError && /DESK_ORIGIN must be an https:\/\/ origin/.test(e.message));
    assert.doesNotThrow(() => enclaveStepHandler(['verify-archive'], {}, ENV));
  });
});

describe('enclave entry points', () => {
  it('each exports a handler, built from the environment CDK sets', async () => {
    // Prepare
    Object.assign(process.env, { ...ENV, MAIL_FROM: 'enclave@uni.example', OUTPUTS_BUCKET: 'outputs-bucket', SIGNING_KEY_ID: 'arn:aws:kms:eu-west-2:123456789012:key/s', DESK_ORIGIN: 'https://desk.uni.example', DEPLOYMENT_ID: 'prod', RUN_TASK_FAMILY: 'carrel-prod-enclave-run', DATASET_BUCKET_ARN: 'arn:aws:s3:::research-data', DATASET_PREFIX: 'cohort/' });

    // Act
    const modules = await Promise.all(Object.keys(ENCLAVE_FUNCTIONS).map((name) => import(`../../lambdas/handlers/entry/${name}.js`)));

    // Assess
    for (const mod of modules) assert.equal(typeof mod.handler, 'function');
    const verify = modules[0]!.handler as (event: unknown) => Promise<unknown>;
    await assert.rejects(verify({ step: 'release', ...KEY }), ValidationError);
  });
});
