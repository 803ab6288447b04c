/**
 * The run routes as deployed: the real submit handler and core over the AWS adapters (Lambda invoke of the
 * real home-snapshot handler, Step Functions StartExecution), both SDK clients mocked with
 * aws-sdk-client-mock; the run entry points and their settings (runs-wiring.ts).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { InvokeCommand, LambdaClient, TooManyRequestsException } from '@aws-sdk/client-lambda';
import { SFNClient, SFNServiceException, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { DEFAULT_EXCLUDES } from '../../lambdas/adapters/archive.js';
import { StoredArchiveFiles } from '../../lambdas/adapters/archive-files.js';
import { LambdaHomeSnapshots } from '../../lambdas/adapters/aws/lambda-home-snapshots.js';
import { SfnRunExecutions } from '../../lambdas/adapters/aws/sfn-run-executions.js';
import { MountedHomeSnapshots } from '../../lambdas/adapters/mounted-home-snapshots.js';
import { DeskReleaseLinks } from '../../lambdas/adapters/release-links.js';
import { LocalKeySigner } from '../../lambdas/adapters/tokens.js';
import { unifiedDiff } from '../../lambdas/adapters/text-diff.js';
import { silentLog } from '../../lambdas/core/ports.js';
import { parseRunRef, type RunApiDeps } from '../../lambdas/core/runs/index.js';
import { makeSubmitRunHandler } from '../../lambdas/handlers/runs.js';
import type { AppDeps } from '../../lambdas/handlers/app.js';
import { ConfigError } from '../../lambdas/handlers/config.js';
import { makeHomeSnapshotHandler } from '../../lambdas/handlers/home-snapshot.js';
import type { HttpResult } from '../../lambdas/handlers/http.js';
import { loadRunsEnv } from '../../lambdas/handlers/runs-wiring.js';
import { serviceError, throttling } from '../unit/aws/sdk-errors.js';
import { makeRunDeps } from '../support/run-fakes.js';
import { bodyOf, httpEvent, makeAppDeps, ROUTES, sessionCookie, TEST_ENV } from './support.js';

const MACHINE = 'arn:aws:states:eu-west-2:111122223333:stateMachine:carrel-test-enclave';
const lambdaClient = new LambdaClient({ region: 'eu-west-2', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const sfnClient = new SFNClient({ region: 'eu-west-2', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const lambda = mockClient(lambdaClient);
const sfn = mockClient(sfnClient);

let homes: string;
before(async () => {
  homes = await mkdtemp(join(tmpdir(), 'carrel-runs-aws-'));
  await mkdir(join(homes, 'demo', 'alice', 'data', 'synthetic'), { recursive: true });
  await writeFile(join(homes, 'demo', 'alice', 'run.sh'), 'python3 analysis.py\n');
  await writeFile(join(homes, 'demo', 'alice', 'data', 'synthetic', 'people.csv'), 'id\n1\n');
});
after(() => rm(homes, { recursive: true, force: true }));
afterEach(() => {
  lambda.reset();
  sfn.reset();
});

/** The desk as deployed, but with the SDK clients mocked: the snapshot function's handler answers the invoke. */
async function world() {
  const app = await makeAppDeps();
  const f = makeRunDeps();
  const snapshotHandler = makeHomeSnapshotHandler(new MountedHomeSnapshots(homes, f.objects, DEFAULT_EXCLUDES), silentLog);
  lambda.on(InvokeCommand).callsFake(async (input: { Payload: Uint8Array }) => ({ StatusCode: 200, Payload: Buffer.from(JSON.stringify(await snapshotHandler(JSON.parse(Buffer.from(input.Payload).toString('utf8'))))) }));
  const enclave: RunApiDeps = {
    ...f,
    clock: app.clock,
    links: new DeskReleaseLinks(app.signer, 'https://desk.test'),
    catalog: app.catalog,
    snapshots: new LambdaHomeSnapshots(lambdaClient, f.objects, { functionName: 'carrel-test-home-snapshot', timeoutMs: 5_000 }),
    executions: new SfnRunExecutions(sfnClient, { stateMachineArn: MACHINE }),
    files: new StoredArchiveFiles(f.objects),
    diff: unifiedDiff,
    limits: { fileViewMaxBytes: 1024, downloadMaxBytes: 1024 * 1024, smallCountThreshold: 10 },
  };
  const submit = makeSubmitRunHandler({ ...app, enclave } as AppDeps);
  const as = async (user: string) =>
    (await submit(httpEvent('POST /api/analyses/{analysisId}/runs', { pathParameters: { analysisId: 'demo' }, body: { description: 'first look' }, cookies: [sessionCookie(await app.idp.session(user, { now: app.clock.now() }))] }))) as HttpResult;
  return { f, submit: as };
}

describe('submit on AWS (snapshot Lambda + StartExecution)', () => {
  it('archives the home through the snapshot function, records the run and starts the execution named by the run id', async () => {
    // Prepare
    const w = await world();
    sfn.on(StartExecutionCommand).callsFake((input: { name: string }) => ({ executionArn: `${MACHINE.replace(':stateMachine:', ':execution:')}:${input.name}`, startDate: new Date() }));
    // Act
    const result = await w.submit('alice');
    // Assess
    assert.equal(result.statusCode, 202, result.body);
    const key = parseRunRef(bodyOf(result).id);
    const start = sfn.commandCalls(StartExecutionCommand);
    assert.equal(start.length, 1);
    assert.deepEqual(start[0]!.args[0].input, { stateMachineArn: MACHINE, name: key.runId, input: JSON.stringify(key) });
    const run = await w.f.runs.get(key);
    assert.equal(run!.executionId, `arn:aws:states:eu-west-2:111122223333:execution:carrel-test-enclave:${key.runId}`);
    assert.deepEqual([...w.f.objects.objects.keys()].sort(), [`runs/demo/${key.runId}/home.tar.gz`, `runs/demo/${key.runId}/manifest.json`]);
  });

  it('answers 409 "open the analysis first" when the member has no home on EFS, starting nothing', async () => {
    // Prepare
    const w = await world();
    // Act
    const result = await w.submit('bob');
    // Assess
    assert.equal(result.statusCode, 409, result.body);
    assert.match(bodyOf(result).error.message, /no home in "demo" yet/);
    assert.equal(sfn.commandCalls(StartExecutionCommand).length, 0);
    assert.equal(w.f.objects.objects.size, 0);
  });

  it('answers 503 when Lambda throttles the snapshot, recording nothing', async () => {
    // Prepare
    const w = await world();
    lambda.reset();
    lambda.on(InvokeCommand).rejects(serviceError(TooManyRequestsException as never, 'TooManyRequestsException', 429, 'Rate Exceeded'));
    // Act
    const result = await w.submit('alice');
    // Assess
    assert.equal(result.statusCode, 503, result.body);
    assert.equal(w.f.runs.records.size, 0);
  });

  it('answers 503 when StartExecution is throttled, and fails the run it recorded (nothing would move it)', async () => {
    // Prepare
    const w = await world();
    sfn.on(StartExecutionCommand).rejects(throttling(SFNServiceException as never));
    // Act
    const result = await w.submit('alice');
    // Assess
    assert.equal(result.statusCode, 503, result.body);
    const [run] = [...w.f.runs.records.values()];
    assert.equal(run!.state, 'failed');
    assert.match(run!.failure!.message, /could not be started/);
  });
});

describe('run entry points (runs-wiring.ts)', () => {
  before(() => {
    // Prepare: the environment CDK sets (lib/constructs/enclave-desk.ts), with a PEM key so no KMS call is needed.
    Object.assign(process.env, {
      ...TEST_ENV,
      SIGNING_KEY_ID: '',
      SIGNING_KEY_PEM: LocalKeySigner.generatePem(),
      AWS_REGION: 'eu-west-2',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      RUN_OBJECTS_BUCKET: 'carrel-test-run-objects',
      RUN_OBJECTS_KEY_ID: 'arn:aws:kms:eu-west-2:111122223333:key/0000',
      STATE_MACHINE_ARN: MACHINE,
      HOME_SNAPSHOT_FUNCTION: 'carrel-test-home-snapshot',
      HOMES_MOUNT: '/mnt/homes',
    });
  });

  const ENTRIES = ['submit-run', 'list-runs', 'review-queue', 'get-run', 'run-file', 'decide-run', 'download-run', 'home-snapshot'] as const;

  it('each exports a handler function', async () => {
    // Act
    const modules = await Promise.all(ENTRIES.map((name) => import(`../../lambdas/handlers/entry/${name}.js`)));
    // Assess
    for (const [i, mod] of modules.entries()) assert.equal(typeof mod.handler, 'function', ENTRIES[i]);
  });

  it('answers an unauthenticated submit and review queue with 401 before touching AWS', async () => {
    // Prepare
    const submit = (await import('../../lambdas/handlers/entry/submit-run.js')).handler;
    const queue = (await import('../../lambdas/handlers/entry/review-queue.js')).handler;
    // Act
    const a = (await submit(httpEvent('POST /api/analyses/{analysisId}/runs', { pathParameters: { analysisId: 'demo' }, body: { description: 'x' } }))) as HttpResult;
    const b = (await queue(httpEvent('GET /api/review/queue'))) as HttpResult;
    // Assess
    assert.equal(a.statusCode, 401);
    assert.equal(b.statusCode, 401);
    assert.ok(ROUTES);
  });

  it('the snapshot entry answers a malformed request without reading anything', async () => {
    // Prepare
    const { handler } = await import('../../lambdas/handlers/entry/home-snapshot.js');
    // Act
    const answer = await handler({ analysisId: 'demo', userId: 'alice', archiveKey: '/etc/passwd', manifestKey: 'x' });
    // Assess
    assert.equal(answer.ok, false);
  });

  it('refuses bad settings, naming them', () => {
    // Act / Assess
    assert.throws(() => loadRunsEnv({ RUN_OBJECTS_KEY_ID: 'k' }), (e: unknown) => e instanceof ConfigError && /RUN_OBJECTS_BUCKET/.test(e.message));
    assert.throws(() => loadRunsEnv({ RUN_OBJECTS_BUCKET: 'bbb', RUN_OBJECTS_KEY_ID: 'k', STATE_MACHINE_ARN: 'arn:aws:lambda:x' }), /STATE_MACHINE_ARN must be a state machine ARN/);
    assert.throws(() => loadRunsEnv({ RUN_OBJECTS_BUCKET: 'bbb', RUN_OBJECTS_KEY_ID: 'k', HOME_SNAPSHOT_TIMEOUT_SECONDS: '29' }), /at most 28/);
  });
});
