import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { InvokeCommand, LambdaClient, LambdaServiceException, ResourceNotFoundException, TooManyRequestsException } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { ConflictError, NotFoundError, TransientError } from '../../../lambdas/core/errors.js';
import { silentLog } from '../../../lambdas/core/ports.js';
import { IntegrityError } from '../../../lambdas/core/runs/manifest.js';
import { runObjectKeys } from '../../../lambdas/core/runs/api.js';
import { LambdaHomeSnapshots } from '../../../lambdas/adapters/aws/lambda-home-snapshots.js';
import { MountedHomeSnapshots } from '../../../lambdas/adapters/mounted-home-snapshots.js';
import { DEFAULT_EXCLUDES, manifestOfArchive } from '../../../lambdas/adapters/archive.js';
import { makeHomeSnapshotHandler, loadHomeSnapshotEnv } from '../../../lambdas/handlers/home-snapshot.js';
import { ConfigError } from '../../../lambdas/handlers/config.js';
import { FakeObjectStore } from '../../support/run-fakes.js';
import { clientError, connectionReset, serviceError, throttling, timeoutError } from './sdk-errors.js';

const FUNCTION = 'carrel-test-home-snapshot';
const client = new LambdaClient({ region: 'eu-west-2', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const lambda = mockClient(client);
const HOME = { analysisId: 'demo', userId: 'alice' };
const KEYS = runObjectKeys({ analysisId: 'demo', runId: 'r20261123t180000z-k3j9x0a1b2' });

let root: string;
before(async () => {
  // Prepare: a homes folder as the snapshot function sees its mount (<root>/<analysisId>/<userId>).
  root = await mkdtemp(join(tmpdir(), 'carrel-homes-'));
  await mkdir(join(root, 'demo', 'alice', 'data', 'synthetic'), { recursive: true });
  await mkdir(join(root, 'demo', 'alice', '.git'), { recursive: true });
  await writeFile(join(root, 'demo', 'alice', 'run.sh'), 'python3 analysis.py\n');
  await writeFile(join(root, 'demo', 'alice', 'analysis.py'), 'print(1)\n');
  await writeFile(join(root, 'demo', 'alice', 'data', 'synthetic', 'people.csv'), 'a,b\n');
  await writeFile(join(root, 'demo', 'alice', '.git', 'HEAD'), 'ref: x\n');
});
after(() => rm(root, { recursive: true, force: true }));

/** The Lambda service running the real snapshot handler over the temporary homes (what AWS does on Invoke). */
function serveWith(objects: FakeObjectStore) {
  const handler = makeHomeSnapshotHandler(new MountedHomeSnapshots(root, objects, DEFAULT_EXCLUDES), silentLog);
  lambda.on(InvokeCommand).callsFake(async (input: { Payload: Uint8Array }) => {
    const answer = await handler(JSON.parse(Buffer.from(input.Payload).toString('utf8')));
    return { StatusCode: 200, Payload: Buffer.from(JSON.stringify(answer)) };
  });
}

const snapshots = (objects: FakeObjectStore, timeoutMs = 20_000) => new LambdaHomeSnapshots(client, objects, { functionName: FUNCTION, timeoutMs });

describe('LambdaHomeSnapshots + the home-snapshot function', () => {
  afterEach(() => lambda.reset());

  it('invokes the function synchronously; it archives the home without the exclusions, and the manifest read back matches the archive', async () => {
    // Prepare
    const objects = new FakeObjectStore();
    serveWith(objects);
    // Act
    const manifest = await snapshots(objects).snapshot(HOME, KEYS);
    // Assess
    const input = lambda.commandCalls(InvokeCommand)[0]!.args[0].input;
    assert.equal(input.FunctionName, FUNCTION);
    assert.equal(input.InvocationType, 'RequestResponse');
    assert.deepEqual(JSON.parse(Buffer.from(input.Payload as Uint8Array).toString('utf8')), { ...HOME, ...KEYS });
    assert.deepEqual(manifest.files.map((f) => f.path).sort(), ['analysis.py', 'run.sh']);
    const stored = await manifestOfArchive(await objects.get(KEYS.archiveKey));
    assert.equal(stored.digest, manifest.digest);
  });

  it('turns the answer for a missing home into NotFoundError (core answers 409 "open the analysis first")', async () => {
    // Prepare
    const objects = new FakeObjectStore();
    serveWith(objects);
    // Act / Assess
    await assert.rejects(snapshots(objects).snapshot({ analysisId: 'demo', userId: 'bob' }, KEYS), NotFoundError);
    assert.equal(objects.objects.size, 0);
  });

  it('turns existing keys into ConflictError (a submission is never replaced)', async () => {
    // Prepare
    const objects = new FakeObjectStore();
    await objects.putNew(KEYS.archiveKey, Buffer.from('earlier'));
    serveWith(objects);
    // Act / Assess
    await assert.rejects(snapshots(objects).snapshot(HOME, KEYS), ConflictError);
    assert.equal(objects.objects.get(KEYS.archiveKey)!.toString(), 'earlier');
  });

  it('the function refuses a user id that would leave the homes root, and keys of another analysis, changing nothing', async () => {
    // Prepare
    const objects = new FakeObjectStore();
    const handler = makeHomeSnapshotHandler(new MountedHomeSnapshots(root, objects, DEFAULT_EXCLUDES), silentLog);
    // Act
    const traversal = await handler({ analysisId: 'demo', userId: '..', ...KEYS });
    const other = await handler({ analysisId: 'other', userId: 'alice', ...KEYS });
    const extra = await handler({ ...HOME, ...KEYS, path: '/' });
    // Assess
    assert.equal(traversal.ok, false);
    assert.equal(other.ok, false);
    assert.equal(extra.ok, false);
    assert.equal(objects.objects.size, 0);
  });

  it('refuses a stored manifest that is not the one the function made (IntegrityError)', async () => {
    // Prepare
    const objects = new FakeObjectStore();
    lambda.on(InvokeCommand).callsFake(async () => {
      const answer = await makeHomeSnapshotHandler(new MountedHomeSnapshots(root, objects, DEFAULT_EXCLUDES), silentLog)({ ...HOME, ...KEYS });
      assert.equal(answer.ok, true);
      // The function answers another digest than the manifest it stored.
      return { StatusCode: 200, Payload: Buffer.from(JSON.stringify({ ok: true, digest: 'a'.repeat(64), files: 1, totalBytes: 1 })) };
    });
    // Act / Assess
    await assert.rejects(snapshots(objects).snapshot(HOME, KEYS), IntegrityError);
  });

  it("treats the function's own timeout and a thrown TransientError as transient, any other function error as a failure naming it", async () => {
    // Prepare
    const objects = new FakeObjectStore();
    const answers = [
      { errorType: 'Sandbox.Timedout', errorMessage: 'Task timed out after 24.00 seconds' },
      { errorType: 'TransientError', errorMessage: 'Storing runs/... failed for now' },
      { errorType: 'Error', errorMessage: 'EACCES: permission denied' },
    ];
    for (const [i, failure] of answers.entries()) {
      lambda.reset();
      lambda.on(InvokeCommand).resolves({ StatusCode: 200, FunctionError: 'Unhandled', Payload: Buffer.from(JSON.stringify(failure)) as never });
      // Act / Assess
      await assert.rejects(snapshots(objects).snapshot(HOME, KEYS), (error: unknown) =>
        i < 2 ? error instanceof TransientError : error instanceof Error && !(error instanceof TransientError) && /EACCES/.test(error.message),
      );
    }
  });

  it('refuses an answer that is not a snapshot answer', async () => {
    // Prepare
    const objects = new FakeObjectStore();
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: Buffer.from('{"ok":"maybe"}') as never });
    // Act / Assess
    await assert.rejects(snapshots(objects).snapshot(HOME, KEYS), /unexpected/);
  });

  it('gives up after its bound with a TransientError', async () => {
    // Prepare
    const objects = new FakeObjectStore();
    lambda.on(InvokeCommand).callsFake(() => new Promise(() => undefined));
    // Act / Assess
    await assert.rejects(snapshots(objects, 50).snapshot(HOME, KEYS), (error: unknown) => error instanceof TransientError && /longer than/.test(error.message));
  });

  const transient: [string, () => Error][] = [
    ['TooManyRequestsException', () => serviceError(TooManyRequestsException as never, 'TooManyRequestsException', 429, 'Rate Exceeded')],
    ['ThrottlingException', () => throttling(LambdaServiceException as never)],
    ['a 500', () => serviceError(LambdaServiceException as never, 'ServiceException', 500, 'internal')],
    ['a timeout', timeoutError],
    ['a reset connection', connectionReset],
  ];
  for (const [what, make] of transient) {
    it(`wraps ${what} from Invoke in a TransientError with the cause`, async () => {
      // Prepare
      const cause = make();
      lambda.on(InvokeCommand).rejects(cause);
      // Act / Assess
      await assert.rejects(snapshots(new FakeObjectStore()).snapshot(HOME, KEYS), (error: unknown) => error instanceof TransientError && error.cause === cause);
    });
  }

  it('passes ResourceNotFound and AccessDenied through unchanged (a deployment fault)', async () => {
    for (const cause of [clientError(ResourceNotFoundException as never, 'ResourceNotFoundException', 'Function not found'), clientError(LambdaServiceException as never, 'AccessDeniedException')]) {
      // Prepare
      lambda.reset();
      lambda.on(InvokeCommand).rejects(cause);
      // Act / Assess
      await assert.rejects(snapshots(new FakeObjectStore()).snapshot(HOME, KEYS), (error: unknown) => error === cause);
    }
  });

  it('its settings fail naming the setting', () => {
    // Act / Assess
    assert.throws(() => loadHomeSnapshotEnv({ RUN_OBJECTS_BUCKET: 'b-b-b', RUN_OBJECTS_KEY_ID: 'k' }), (error: unknown) => error instanceof ConfigError && /HOMES_MOUNT/.test(error.message));
    assert.throws(() => loadHomeSnapshotEnv({ HOMES_MOUNT: '/tmp/x', RUN_OBJECTS_BUCKET: 'b-b-b', RUN_OBJECTS_KEY_ID: 'k' }), /HOMES_MOUNT must be a \/mnt/);
  });
});
