import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { afterEach, describe, it } from 'node:test';
import { GetObjectCommand, HeadObjectCommand, NoSuchKey, NotFound, PutObjectCommand, S3Client, S3ServiceException, type PutObjectCommandInput } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { ConflictError, NotFoundError, TransientError, ValidationError } from '../../../lambdas/core/errors.js';
import { S3ObjectStore } from '../../../lambdas/adapters/aws/s3-object-store.js';
import { readAll } from '../../../lambdas/adapters/archive.js';
import { connectionReset, internalError, serviceError, timeoutError } from './sdk-errors.js';

const client = new S3Client({ region: 'eu-west-2', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } });
const s3 = mockClient(client);
const KEY_ARN = 'arn:aws:kms:eu-west-2:123456789012:key/11111111-2222-3333-4444-555555555555';
const NOW = new Date('2026-11-23T12:00:00Z');
const store = () => new S3ObjectStore(client, { bucket: 'runs-bucket', kmsKeyId: KEY_ARN, now: () => NOW });

const slowDown = () => serviceError(S3ServiceException, 'SlowDown', 503, 'Please reduce your request rate.');
const accessDenied = () => serviceError(S3ServiceException, 'AccessDenied', 403, 'Access Denied');

async function bodyOf(input: PutObjectCommandInput): Promise<Buffer> {
  return Buffer.isBuffer(input.Body) ? input.Body : readAll(input.Body as Readable);
}

describe('S3ObjectStore', () => {
  afterEach(() => s3.reset());

  it('stores a new object only if the key is free (If-None-Match), with the enclave key', async () => {
    // Prepare
    s3.on(PutObjectCommand).resolves({});

    // Act
    await store().putNew('runs/a/r1/manifest.json', Buffer.from('{}'));

    // Assess
    const input = s3.commandCalls(PutObjectCommand)[0]!.args[0].input;
    assert.equal(input.Bucket, 'runs-bucket');
    assert.equal(input.Key, 'runs/a/r1/manifest.json');
    assert.equal(input.IfNoneMatch, '*');
    assert.equal(input.ServerSideEncryption, 'aws:kms');
    assert.equal(input.SSEKMSKeyId, KEY_ARN);
    assert.equal(input.ContentLength, 2);
  });

  it('spools a stream of unknown length and puts it with its length', async () => {
    // Prepare
    const received: Buffer[] = [];
    s3.on(PutObjectCommand).callsFake(async (input: PutObjectCommandInput) => {
      received.push(await bodyOf(input));
      return {};
    });
    const bytes = Buffer.alloc(200_000, 7);

    // Act
    await store().putNew('runs/a/r1/outputs.tar.gz', Readable.from([bytes.subarray(0, 50_000), bytes.subarray(50_000)]));

    // Assess
    assert.equal(s3.commandCalls(PutObjectCommand)[0]!.args[0].input.ContentLength, 200_000);
    assert.ok(received[0]!.equals(bytes));
  });

  it('refuses to replace an existing object: 412 PreconditionFailed and 409 ConditionalRequestConflict are ConflictError', async () => {
    for (const [name, status] of [
      ['PreconditionFailed', 412],
      ['ConditionalRequestConflict', 409],
    ] as const) {
      // Prepare
      s3.reset();
      s3.on(PutObjectCommand).rejects(serviceError(S3ServiceException, name, status, 'At least one of the pre-conditions you specified did not hold'));

      // Act + Assess
      await assert.rejects(store().putNew('runs/a/r1/home.tar.gz', Buffer.from('x')), (e: unknown) => e instanceof ConflictError && /never replaced/.test(e.message), name);
    }
  });

  it('makes throttling (SlowDown), 5xx, timeouts and resets transient; AccessDenied is not', async () => {
    for (const failure of [slowDown(), serviceError(S3ServiceException, 'InternalError', 500), timeoutError(), connectionReset()]) {
      // Prepare
      s3.reset();
      s3.on(PutObjectCommand).rejects(failure);
      // Act + Assess
      await assert.rejects(store().putNew('k', Buffer.from('x')), TransientError, String((failure as Error).name));
    }
    s3.reset();
    s3.on(PutObjectCommand).rejects(accessDenied());
    await assert.rejects(store().putNew('k', Buffer.from('x')), (e: unknown) => !(e instanceof TransientError) && (e as Error).name === 'AccessDenied');
  });

  it('reads an object as a stream; NoSuchKey is NotFoundError, AccessDenied passes through, throttling is transient', async () => {
    // Prepare
    s3.on(GetObjectCommand, { Key: 'there' }).resolves({ Body: Readable.from([Buffer.from('hello')]) as never });
    s3.on(GetObjectCommand, { Key: 'gone' }).rejects(new NoSuchKey({ message: 'The specified key does not exist.', $metadata: { httpStatusCode: 404 } }));
    s3.on(GetObjectCommand, { Key: 'secret' }).rejects(accessDenied());
    s3.on(GetObjectCommand, { Key: 'busy' }).rejects(slowDown());

    // Act + Assess
    assert.equal((await readAll(await store().get('there'))).toString(), 'hello');
    await assert.rejects(store().get('gone'), NotFoundError);
    await assert.rejects(store().get('secret'), (e: unknown) => (e as Error).name === 'AccessDenied');
    await assert.rejects(store().get('busy'), TransientError);
  });

  it('presigns a GET that expires at the release deadline, and refuses links SigV4 cannot sign', async () => {
    // Act
    const url = new URL(await store().link('runs/a/r1/outputs.tar.gz', new Date(NOW.getTime() + 3_600_000)));

    // Assess
    assert.equal(url.pathname, '/runs/a/r1/outputs.tar.gz');
    assert.match(url.hostname, /^runs-bucket\.s3\.eu-west-2\.amazonaws\.com$/);
    assert.ok(url.searchParams.get('X-Amz-Signature'));
    assert.equal(url.searchParams.get('X-Amz-Expires'), '3600');
    assert.equal(s3.calls().length, 0, 'presigning makes no request');
    await assert.rejects(store().link('k', new Date(NOW.getTime() + 8 * 24 * 3_600_000)), ValidationError);
    await assert.rejects(store().link('k', new Date(NOW.getTime() - 1000)), ValidationError);
  });
});

describe('S3ObjectStore object versions (what a run pins)', () => {
  afterEach(() => s3.reset());

  it('answers the version S3 made for each new object, and none for the unversioned "null"', async () => {
    // Prepare
    s3.on(PutObjectCommand, { Key: 'runs/a/r1/outputs.tar.gz' }).resolves({ VersionId: 'v-archive' });
    s3.on(PutObjectCommand, { Key: 'runs/a/r1/outputs.manifest.json' }).resolves({ VersionId: 'null' });
    // Act
    const archive = await store().putNew('runs/a/r1/outputs.tar.gz', Readable.from([Buffer.from('tgz')]));
    const manifest = await store().putNew('runs/a/r1/outputs.manifest.json', Buffer.from('{}'));
    // Assess
    assert.deepEqual(archive, { revision: 'v-archive' });
    assert.deepEqual(manifest, {});
  });

  it('reads exactly the version asked for (GetObject VersionId), and the current one without', async () => {
    // Prepare
    s3.on(GetObjectCommand, { Key: 'k', VersionId: 'v1' }).callsFake(() => ({ Body: Readable.from([Buffer.from('first')]) }));
    s3.on(GetObjectCommand, { Key: 'k', VersionId: undefined }).callsFake(() => ({ Body: Readable.from([Buffer.from('later')]) }));
    // Act
    const pinned = (await readAll(await store().get('k', 'v1'))).toString();
    const current = (await readAll(await store().get('k'))).toString();
    // Assess
    assert.equal(pinned, 'first');
    assert.equal(current, 'later');
    assert.deepEqual(s3.commandCalls(GetObjectCommand).map((c) => c.args[0].input), [
      { Bucket: 'runs-bucket', Key: 'k', VersionId: 'v1' },
      { Bucket: 'runs-bucket', Key: 'k' },
    ]);
  });

  it('looks up size and version with one HeadObject (VersionId when asked), reading no bytes', async () => {
    // Prepare
    s3.on(HeadObjectCommand).resolves({ ContentLength: 5_000_000_000, VersionId: 'v1' });
    // Act
    const pinned = await store().head('k', 'v1');
    // Assess
    assert.deepEqual(pinned, { size: 5_000_000_000, revision: 'v1' });
    assert.deepEqual(s3.commandCalls(HeadObjectCommand)[0]!.args[0].input, { Bucket: 'runs-bucket', Key: 'k', VersionId: 'v1' });
    assert.equal(s3.commandCalls(GetObjectCommand).length, 0);
  });

  it('maps a missing version (NoSuchVersion, NotFound, a delete marker) to NotFoundError; throttling, 5xx and timeouts are transient', async () => {
    const cases: [Error, (e: unknown) => boolean][] = [
      [serviceError(S3ServiceException, 'NoSuchVersion', 404, 'The specified version does not exist.'), (e) => e instanceof NotFoundError],
      [serviceError(NotFound as never, 'NotFound', 404), (e) => e instanceof NotFoundError],
      [serviceError(S3ServiceException, 'MethodNotAllowed', 405, 'The specified method is not allowed against this resource.'), (e) => e instanceof NotFoundError],
      [slowDown(), (e) => e instanceof TransientError],
      [internalError(S3ServiceException), (e) => e instanceof TransientError],
      [timeoutError(), (e) => e instanceof TransientError],
      [connectionReset(), (e) => e instanceof TransientError],
    ];
    for (const [cause, expected] of cases) {
      // Prepare
      s3.reset();
      s3.on(GetObjectCommand).rejects(cause);
      s3.on(HeadObjectCommand).rejects(cause);
      // Act / Assess
      await assert.rejects(store().get('k', 'v1'), expected, `get: ${cause.name}`);
      await assert.rejects(store().head('k', 'v1'), expected, `head: ${cause.name}`);
    }
  });
});
