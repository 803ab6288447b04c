import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, afterEach, before, describe, it } from 'node:test';
import { GetObjectCommand, NoSuchKey, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { NotFoundError, TransientError, ValidationError } from '../../../lambdas/core/errors.js';
import { IntegrityError } from '../../../lambdas/core/runs/manifest.js';
import { writeArchive } from '../../../lambdas/adapters/archive.js';
import { S3CheckedLinks } from '../../../lambdas/adapters/aws/s3-checked-links.js';
import { connectionReset, serviceError, throttling } from './sdk-errors.js';

const client = new S3Client({ region: 'eu-west-2', credentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test' } });
const s3 = mockClient(client);
const NOW = new Date('2026-11-23T18:00:00Z');
const KEY = 'runs/demo/r1/outputs.tar.gz';
const links = () => new S3CheckedLinks(client, { bucket: 'carrel-run-objects', now: () => NOW });
const inFive = new Date(NOW.getTime() + 300_000);

let archive: Buffer;
let dir: string;
before(async () => {
  // Prepare: a real outputs archive.
  dir = await mkdtemp(join(tmpdir(), 'carrel-checked-'));
  await mkdir(join(dir, 'out'));
  await writeFile(join(dir, 'out', 'table.csv'), 'group,count\nall,57\n');
  const chunks: Buffer[] = [];
  const sink = new PassThrough();
  sink.on('data', (c: Buffer) => chunks.push(c));
  await writeArchive(join(dir, 'out'), sink);
  archive = Buffer.concat(chunks);
});
after(() => rm(dir, { recursive: true, force: true }));
afterEach(() => s3.reset());

const body = (bytes: Buffer) => Readable.from([bytes]) as never;

describe('S3CheckedLinks', () => {
  it('reads the object once, answers its manifest and sha256, and presigns a GET of exactly that version', async () => {
    // Prepare
    s3.on(GetObjectCommand).resolves({ Body: body(archive), VersionId: 'v-123' });
    // Act
    const checked = await links().checkedLink(KEY, inFive, 'r1-outputs.tar.gz');
    // Assess
    assert.deepEqual(checked.manifest.files.map((f) => f.path), ['table.csv']);
    assert.equal(checked.sha256, createHash('sha256').update(archive).digest('hex'));
    const url = new URL(checked.url);
    assert.equal(url.pathname, `/${KEY}`);
    assert.equal(url.searchParams.get('versionId'), 'v-123');
    assert.equal(url.searchParams.get('X-Amz-Expires'), '300');
    assert.equal(url.searchParams.get('response-content-disposition'), 'attachment; filename="r1-outputs.tar.gz"');
    assert.equal(s3.commandCalls(GetObjectCommand).length, 1);
  });

  it('refuses to link an object without a version (the key could change after the check)', async () => {
    // Prepare
    s3.on(GetObjectCommand).resolves({ Body: body(archive) });
    // Act / Assess
    await assert.rejects(links().checkedLink(KEY, inFive, 'x.tar.gz'), IntegrityError);
  });

  it('refuses bytes that are not an archive (IntegrityError, nothing linked)', async () => {
    // Prepare
    s3.on(GetObjectCommand).resolves({ Body: body(Buffer.from('not a tarball')), VersionId: 'v-1' });
    // Act / Assess
    await assert.rejects(links().checkedLink(KEY, inFive, 'x.tar.gz'), IntegrityError);
  });

  it('refuses a link that would be expired or last over 7 days, reading nothing', async () => {
    // Act / Assess
    await assert.rejects(links().checkedLink(KEY, NOW, 'x'), ValidationError);
    await assert.rejects(links().checkedLink(KEY, new Date(NOW.getTime() + 8 * 86400_000), 'x'), ValidationError);
    assert.equal(s3.commandCalls(GetObjectCommand).length, 0);
  });

  it('maps NoSuchKey to NotFoundError, throttling, 5xx and resets to TransientError, AccessDenied unchanged', async () => {
    const cases: [Error, (e: unknown) => boolean][] = [
      [serviceError(NoSuchKey as never, 'NoSuchKey', 404, 'The specified key does not exist.'), (e) => e instanceof NotFoundError],
      [throttling(S3ServiceException as never, 'SlowDown'), (e) => e instanceof TransientError],
      [serviceError(S3ServiceException as never, 'InternalError', 500), (e) => e instanceof TransientError],
      [connectionReset(), (e) => e instanceof TransientError],
    ];
    const denied = serviceError(S3ServiceException as never, 'AccessDenied', 403, 'Access Denied');
    cases.push([denied, (e) => e === denied]);
    for (const [cause, expected] of cases) {
      // Prepare
      s3.reset();
      s3.on(GetObjectCommand).rejects(cause);
      // Act / Assess
      await assert.rejects(links().checkedLink(KEY, inFive, 'x'), expected);
    }
  });
});
