/**
 * The run routes as deployed: the real submit handler and core over the AWS adapters (Step Functions
 * StartExecution, mocked with aws-sdk-client-mock); the home-snapshot function's handler (the state machine's
 * ArchiveHome step) over real home folders; the run entry points and their settings (runs-wiring.ts).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { SFNClient, SFNServiceException, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { DEFAULT_EXCLUDES } from '../../lambdas/adapters/archive.js';
import { StoredArchiveFiles } from '../../lambdas/adapters/archive-files.js';
import { SfnRunExecutions } from '../../lambdas/adapters/aws/sfn-run-executions.js';
import { MountedHomeSnapshots } from '../../lambdas/adapters/mounted-home-snapshots.js';
import { DeskReleaseLinks } from '../../lambdas/adapters/release-links.js';
import { unifiedDiff } from '../../lambdas/adapters/text-diff.js';
import { ValidationError } from '../../lambdas/core/errors.js';
import { silentLog } from '../../lambdas/core/ports.js';
import { buildManifest, IntegrityError, parseRunRef, SubmissionRefusedError, type RunApiDeps } from '../../lambdas/core/runs/index.js';
import { makeSubmitRunHandler } from '../../lambdas/handlers/runs.js';
import type { AppDeps } from '../../lambdas/handlers/app.js';
import { ConfigError } from '../../lambdas/handlers/config.js';
import { makeHomeSnapshotHandler } from '../../lambdas/handlers/home-snapshot.js';
import type { HttpResult } from '../../lambdas/handlers/http.js';
import { loadRunsEnv } from '../../lambdas/handlers/runs-wiring.js';
import { serviceError, throttling } from '../unit/aws/sdk-errors.js';
import { makeRunDeps } from '../support/run-fakes.js';
import { bodyOf, entryEnv, httpEvent, makeAppDeps, ROUTES, sessionCookie } from './support.js';

const MACHINE = 'arn:aws:states:eu-west-2:111122223333:stateMachine:carrel-test-enclave';
const sfnClient = new SFNClient({ region: 'eu-west-2', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const sfn = mockClient(sfnClient);

let homes: string;
before(async () => {
  homes = await mkdtemp(join(tmpdir(), 'carrel-runs-aws-'));
  await mkdir(join(homes, 'demo', 'alice', 'data', 'synthetic'), { recursive: true });
  await writeFile(join(homes, 'demo', 'alice', 'run.sh'), 'python3 analysis.py\n');
  await writeFile(join(homes, 'demo', 'alice', 'data', 'synthetic', 'people.csv'), 'id\n1\n');
  // carol's home holds only what the exclusions leave out
  await mkdir(join(homes, 'demo', 'carol', '.git'), { recursive: true });
  await writeFile(join(homes, 'demo', 'carol', '.git', 'HEAD'), 'ref: refs/heads/main\n');
});
after(() => rm(homes, { recursive: true, force: true }));
afterEach(() => {
  sfn.reset();
});

/** The desk as deployed, but with the Step Functions client mocked; and the home-snapshot function's handler. */
async function world() {
  const app = await makeAppDeps();
  const f = makeRunDeps();
  const snapshot = makeHomeSnapshotHandler(new MountedHomeSnapshots(homes, f.objects, DEFAULT_EXCLUDES), silentLog);
  const enclave: RunApiDeps = {
    ...f,
    clock: app.clock,
    links: new DeskReleaseLinks(app.signer, 'https://desk.test'),
    catalog: app.catalog,
    executions: new SfnRunExecutions(sfnClient, { stateMachineArn: MACHINE }),
    files: new StoredArchiveFiles(f.objects),
    diff: unifiedDiff,
    limits: { fileViewMaxBytes: 1024, downloadMaxBytes: 1024 * 1024, smallCountThreshold: 10 },
  };
  const submit = makeSubmitRunHandler({ ...app, enclave } as AppDeps);
  const as = async (user: string) =>
    (await submit(httpEvent('POST /api/analyses/{analysisId}/runs', { pathParameters: { analysisId: 'demo' }, body: { description: 'first look' }, cookies: [sessionCookie(await app.idp.session(user, { now: app.clock.now() }))] }))) as HttpResult;
  return { f, submit: as, snapshot };
}

describe('submit on AWS (StartExecution; the archive is the first step)', () => {
  it('records the run as archiving, starts the execution named by the run id with the submitter, and answers 202 at once', async () => {
    // Prepare
    const w = await world();
    sfn.on(StartExecutionCommand).callsFake((input: { name: string }) => ({ executionArn: `${MACHINE.replace(':stateMachine:', ':execution:')}:${input.name}`, startDate: new Date() }));
    // Act
    const result = await w.submit('alice');
    // Assess
    assert.equal(result.statusCode, 202, result.body);
    assert.equal(bodyOf(result).state, 'archiving');
    assert.equal(bodyOf(result).manifestDigest, undefined);
    const key = parseRunRef(bodyOf(result).id);
    const start = sfn.commandCalls(StartExecutionCommand);
    assert.equal(start.length, 1);
    assert.deepEqual(start[0]!.args[0].input, { stateMachineArn: MACHINE, name: key.runId, input: JSON.stringify({ ...key, submittedBy: 'alice' }) });
    const run = await w.f.runs.get(key);
    assert.equal(run!.executionId, `arn:aws:states:eu-west-2:111122223333:execution:carrel-test-enclave:${key.runId}`);
    assert.equal(w.f.objects.objects.size, 0, 'the desk archives nothing');
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

describe('the home-snapshot function (ArchiveHome)', () => {
  const step = (submittedBy: string, runId = 'r20261123t200000z-abcdefghij') => ({ step: 'archive-home', analysisId: 'demo', runId, submittedBy });

  it("archives the submitter's home (without the exclusions) to the run's keys and returns the digest for VerifyArchive", async () => {
    // Prepare
    const w = await world();
    // Act
    const archived = await w.snapshot(step('alice'));
    // Assess
    const stored = JSON.parse(w.f.objects.objects.get('runs/demo/r20261123t200000z-abcdefghij/manifest.json')!.toString('utf8'));
    assert.deepEqual(stored.files.map((f: { path: string }) => f.path), ['run.sh']);
    assert.deepEqual(archived, { digest: stored.digest, files: 1, totalBytes: buildManifest(stored.files).totalBytes });
    assert.deepEqual([...w.f.objects.objects.keys()].sort(), ['runs/demo/r20261123t200000z-abcdefghij/home.tar.gz', 'runs/demo/r20261123t200000z-abcdefghij/manifest.json']);
  });

  it('refuses no home and an empty home with a SubmissionRefusedError the researcher can read', async () => {
    // Prepare
    const w = await world();
    const refused = (pattern: RegExp) => (e: unknown) => e instanceof SubmissionRefusedError && e.name === 'SubmissionRefusedError' && pattern.test(e.message);
    // Act / Assess
    await assert.rejects(w.snapshot(step('bob')), refused(/no home in "demo" yet: open the analysis first, then submit/));
    await assert.rejects(w.snapshot(step('carol')), refused(/holds no files to submit/));
  });

  it('a retried step answers the snapshot its earlier attempt stored, even after the home changed', async () => {
    // Prepare: the first attempt stored both objects, then (say) its answer was lost; alice edits on
    const w = await world();
    const runId = 'r20261123t200000z-kkkkkkkkkk';
    const first = await w.snapshot(step('alice', runId));
    await writeFile(join(homes, 'demo', 'alice', 'later.txt'), 'written after the submission\n');
    try {
      // Act
      const retried = await w.snapshot(step('alice', runId));
      // Assess: the same snapshot, nothing replaced
      assert.deepEqual(retried, first);
      assert.equal(w.f.objects.objects.size, 2);
    } finally {
      await rm(join(homes, 'demo', 'alice', 'later.txt'));
    }
  });

  it('a retried step completes an attempt that died between its two writes: the manifest is made from the stored archive', async () => {
    // Prepare: only the archive made it
    const w = await world();
    const runId = 'r20261123t200000z-hhhhhhhhhh';
    const whole = await w.snapshot(step('alice', runId));
    const manifestKey = `runs/demo/${runId}/manifest.json`;
    w.f.objects.objects.delete(manifestKey);
    // Act
    const retried = await w.snapshot(step('alice', runId));
    // Assess
    assert.deepEqual(retried, whole);
    assert.equal(JSON.parse(w.f.objects.objects.get(manifestKey)!.toString('utf8')).digest, whole.digest);
  });

  it('a retried step refuses stored objects that do not match each other (IntegrityError), replacing nothing', async () => {
    // Prepare: a stored manifest that is not the archive's
    const w = await world();
    const runId = 'r20261123t200000z-tttttttttt';
    await w.snapshot(step('alice', runId));
    const manifestKey = `runs/demo/${runId}/manifest.json`;
    const forged = buildManifest([{ path: 'run.sh', size: 3, sha256: 'f'.repeat(64) }]);
    w.f.objects.objects.set(manifestKey, Buffer.from(JSON.stringify(forged)));
    // Act / Assess
    await assert.rejects(w.snapshot(step('alice', runId)), (e: unknown) => e instanceof IntegrityError && /earlier attempt/.test(e.message));
    assert.equal(JSON.parse(w.f.objects.objects.get(manifestKey)!.toString('utf8')).digest, forged.digest);
  });

  it('refuses any other step and a malformed payload (a user id that would leave the homes), reading nothing', async () => {
    // Prepare
    const w = await world();
    // Act / Assess
    await assert.rejects(w.snapshot({ step: 'verify-archive', analysisId: 'demo', runId: 'r1', manifestDigest: 'a'.repeat(64) }), (e: unknown) => e instanceof ValidationError && /does not run the verify-archive step/.test(e.message));
    await assert.rejects(w.snapshot(step('../alice')), (e: unknown) => e instanceof ValidationError && /submittedBy/.test(e.message));
    await assert.rejects(w.snapshot({ analysisId: 'demo', userId: 'alice', archiveKey: 'runs/demo/r1/home.tar.gz', manifestKey: 'runs/demo/r1/manifest.json' }), ValidationError);
    assert.equal(w.f.objects.objects.size, 0);
  });
});

describe('run entry points (runs-wiring.ts)', () => {
  before(() => {
    // Prepare: the environment CDK sets (lib/constructs/enclave-desk.ts), with a PEM key so no KMS call is needed.
    Object.assign(process.env, {
      ...entryEnv(),
      RUN_OBJECTS_BUCKET: 'carrel-test-run-objects',
      RUN_OBJECTS_KEY_ID: 'arn:aws:kms:eu-west-2:111122223333:key/0000',
      STATE_MACHINE_ARN: MACHINE,
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

  it('the snapshot entry refuses a request that is not its step, without reading anything', async () => {
    // Prepare
    const { handler } = await import('../../lambdas/handlers/entry/home-snapshot.js');
    // Act / Assess
    await assert.rejects(handler({ analysisId: 'demo', userId: 'alice', archiveKey: '/etc/passwd', manifestKey: 'x' }), ValidationError);
    await assert.rejects(handler({ step: 'release', analysisId: 'demo', runId: 'r1' }), /does not run the release step/);
  });

  it('refuses bad settings, naming them', () => {
    // Act / Assess
    assert.throws(() => loadRunsEnv({ RUN_OBJECTS_KEY_ID: 'k' }), (e: unknown) => e instanceof ConfigError && /RUN_OBJECTS_BUCKET/.test(e.message));
    assert.throws(() => loadRunsEnv({ RUN_OBJECTS_BUCKET: 'bbb', RUN_OBJECTS_KEY_ID: 'k', STATE_MACHINE_ARN: 'arn:aws:lambda:x' }), /STATE_MACHINE_ARN must be a state machine ARN/);
  });
});
