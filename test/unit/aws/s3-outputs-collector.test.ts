import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, describe, it } from 'node:test';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, NoSuchKey, PutObjectCommand, S3Client, S3ServiceException, type PutObjectCommandInput } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { NotFoundError, TransientError } from '../../../lambdas/core/errors.js';
import { IntegrityError } from '../../../lambdas/core/runs/manifest.js';
import type { Run } from '../../../lambdas/core/runs/run.js';
import { readAll, StoredArchiveReader } from '../../../lambdas/adapters/archive.js';
import { S3ObjectStore } from '../../../lambdas/adapters/aws/s3-object-store.js';
import { S3OutputsCollector, collectedOutputKeys } from '../../../lambdas/adapters/aws/s3-outputs-collector.js';
import { FakeObjectStore } from '../../support/run-fakes.js';
import { serviceError, timeoutError } from './sdk-errors.js';

const client = new S3Client({ region: 'eu-west-2', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const s3 = mockClient(client);
const run = { analysisId: 'demo', runId: 'r20261123t120000z-abc' } as Run;
const PREFIX = 'runs/demo/r20261123t120000z-abc/';
const sha = (text: string) => createHash('sha256').update(text).digest('hex');

/** The outputs bucket holding `files` under the run's prefix (two listing pages when there are several). */
function outputsBucket(files: Record<string, string>) {
  const keys = Object.keys(files).map((path) => `${PREFIX}${path}`);
  const half = Math.ceil(keys.length / 2);
  const page = (slice: string[]) => slice.map((Key) => ({ Key, Size: Buffer.byteLength(files[Key.slice(PREFIX.length)]!) }));
  s3.on(ListObjectsV2Command, { ContinuationToken: undefined }).resolves({ Contents: page(keys.slice(0, half)), IsTruncated: keys.length > half, NextContinuationToken: 'page-2' });
  s3.on(ListObjectsV2Command, { ContinuationToken: 'page-2' }).resolves({ Contents: page(keys.slice(half)), IsTruncated: false });
  for (const [path, content] of Object.entries(files)) s3.on(GetObjectCommand, { Key: `${PREFIX}${path}` }).resolves({ Body: Readable.from([Buffer.from(content)]) as never });
}

function collector(objects = new FakeObjectStore()) {
  return { objects, collector: new S3OutputsCollector(client, objects, new StoredArchiveReader(objects), { outputsBucket: 'outputs-bucket', maxFiles: 5 }) };
}

describe('S3OutputsCollector', () => {
  afterEach(() => s3.reset());

  it("archives exactly what the run wrote under its prefix, with a manifest of the archive's own bytes", async () => {
    // Prepare
    outputsBucket({ 'table.csv': 'group,count\na,3\n', 'plots/fig.txt': 'figure', 'plots/': '' });
    const { objects, collector: c } = collector();

    // Act
    const collected = await c.collect(run);

    // Assess
    assert.deepEqual(
      collected.manifest.files.map((f) => [f.path, f.sha256]),
      [
        ['plots/fig.txt', sha('figure')],
        ['table.csv', sha('group,count\na,3\n')],
      ],
    );
    assert.equal(collected.outputsKey, collectedOutputKeys(run).archiveKey);
    assert.ok(objects.objects.has(collected.outputsKey) && objects.objects.has(collected.outputsManifestKey));
    assert.ok(s3.commandCalls(ListObjectsV2Command).every((call) => call.args[0].input.Bucket === 'outputs-bucket' && call.args[0].input.Prefix === PREFIX));
  });

  it('a retried collect accepts what an earlier attempt stored when it is whole', async () => {
    // Prepare
    outputsBucket({ 'table.csv': 'n\n42\n' });
    const { objects, collector: c } = collector();
    const first = await c.collect(run);

    // Act
    const again = await c.collect(run);

    // Assess
    assert.equal(again.manifest.digest, first.manifest.digest);
    assert.equal(objects.objects.size, 2);
  });

  it('answers the S3 versions of the stored archive and manifest (the run pins them)', async () => {
    // Prepare: the run objects bucket (versioned) on the same mocked client
    outputsBucket({ 'table.csv': 'n\n42\n' });
    const objects = new S3ObjectStore(client, { bucket: 'runs-bucket', kmsKeyId: 'key' });
    s3.on(PutObjectCommand, { Key: collectedOutputKeys(run).archiveKey }).resolves({ VersionId: 'v-archive' });
    s3.on(PutObjectCommand, { Key: collectedOutputKeys(run).manifestKey }).resolves({ VersionId: 'v-manifest' });
    const c = new S3OutputsCollector(client, objects, new StoredArchiveReader(objects), { outputsBucket: 'outputs-bucket' });

    // Act
    const collected = await c.collect(run);

    // Assess
    assert.equal(collected.outputsRevision, 'v-archive');
    assert.equal(collected.outputsManifestRevision, 'v-manifest');
    assert.ok(s3.commandCalls(PutObjectCommand).every((call) => call.args[0].input.Bucket === 'runs-bucket' && call.args[0].input.IfNoneMatch === '*'));
  });

  it('a retried collect pins the versions stored earlier and checks exactly those (HeadObject, then GetObject VersionId)', async () => {
    // Prepare: a first attempt stored both objects (captured), then the retry's writes find the keys taken
    outputsBucket({ 'table.csv': 'n\n42\n' });
    const keys = collectedOutputKeys(run);
    const stored = new Map<string, Buffer>();
    s3.on(PutObjectCommand).callsFake(async (input: PutObjectCommandInput) => {
      stored.set(input.Key!, Buffer.isBuffer(input.Body) ? input.Body : await readAll(input.Body as Readable));
      return { VersionId: `first-${input.Key!.split('/').pop()}` };
    });
    const objects = new S3ObjectStore(client, { bucket: 'runs-bucket', kmsKeyId: 'key' });
    const c = new S3OutputsCollector(client, objects, new StoredArchiveReader(objects), { outputsBucket: 'outputs-bucket' });
    const first = await c.collect(run);
    s3.reset();
    outputsBucket({ 'table.csv': 'n\n42\n' });
    s3.on(PutObjectCommand).rejects(serviceError(S3ServiceException, 'PreconditionFailed', 412, 'At least one of the pre-conditions you specified did not hold'));
    s3.on(HeadObjectCommand).callsFake((input: { Key: string }) => ({ ContentLength: stored.get(input.Key)!.length, VersionId: `first-${input.Key.split('/').pop()}` }));
    s3.on(GetObjectCommand, { Bucket: 'runs-bucket' }).callsFake((input: { Key: string }) => ({ Body: Readable.from([stored.get(input.Key)!]) }));

    // Act
    const again = await c.collect(run);

    // Assess
    assert.equal(again.manifest.digest, first.manifest.digest);
    assert.deepEqual([again.outputsRevision, again.outputsManifestRevision], ['first-outputs.tar.gz', 'first-outputs.manifest.json']);
    const reads = s3.commandCalls(GetObjectCommand).filter((call) => call.args[0].input.Bucket === 'runs-bucket').map((call) => [call.args[0].input.Key, call.args[0].input.VersionId]);
    assert.deepEqual(reads.sort(), [
      [keys.manifestKey, 'first-outputs.manifest.json'],
      [keys.archiveKey, 'first-outputs.tar.gz'],
    ]);
  });

  it('refuses a key that is not a plain relative path, and more files than the ceiling', async () => {
    // Prepare
    outputsBucket({ '../escape.csv': 'x' });
    // Act + Assess
    await assert.rejects(collector().collector.collect(run), IntegrityError);

    s3.reset();
    outputsBucket(Object.fromEntries(['a', 'b', 'c', 'd', 'e', 'f'].map((n) => [`${n}.txt`, n])));
    await assert.rejects(collector().collector.collect(run), (e: unknown) => e instanceof IntegrityError && /more than 5 output files/.test(e.message));
  });

  it('throttling and timeouts are transient (retried by the state machine); AccessDenied and a vanished object are not', async () => {
    // Prepare + Act + Assess
    s3.on(ListObjectsV2Command).rejects(serviceError(S3ServiceException, 'SlowDown', 503, 'Please reduce your request rate.'));
    await assert.rejects(collector().collector.collect(run), TransientError);

    s3.reset();
    s3.on(ListObjectsV2Command).rejects(timeoutError());
    await assert.rejects(collector().collector.collect(run), TransientError);

    s3.reset();
    s3.on(ListObjectsV2Command).rejects(serviceError(S3ServiceException, 'AccessDenied', 403, 'Access Denied'));
    await assert.rejects(collector().collector.collect(run), (e: unknown) => !(e instanceof TransientError) && (e as Error).name === 'AccessDenied');

    s3.reset();
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: `${PREFIX}gone.csv`, Size: 1 }], IsTruncated: false });
    s3.on(GetObjectCommand).rejects(new NoSuchKey({ message: 'The specified key does not exist.', $metadata: { httpStatusCode: 404 } }));
    await assert.rejects(collector().collector.collect(run), NotFoundError);
  });
});
