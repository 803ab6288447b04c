/**
 * S3CheckedLinks: at download time one HeadObject on the pinned VersionId, then a presigned GET of exactly that
 * version; never a GetObject (the release step read the bytes in full). The S3 client is mocked.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { GetObjectCommand, HeadObjectCommand, NotFound, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { TransientError, ValidationError } from '../../../lambdas/core/errors.js';
import { IntegrityError } from '../../../lambdas/core/runs/manifest.js';
import { S3CheckedLinks } from '../../../lambdas/adapters/aws/s3-checked-links.js';
import { connectionReset, internalError, serviceError, throttling, timeoutError } from './sdk-errors.js';

const client = new S3Client({ region: 'eu-west-2', credentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test' } });
const s3 = mockClient(client);
const NOW = new Date('2026-11-23T18:00:00Z');
const KEY = 'runs/demo/r1/outputs.tar.gz';
const FIVE_GB = 5 * 1024 ** 3;
const PINNED = { revision: 'v-123', size: FIVE_GB };
const links = () => new S3CheckedLinks(client, { bucket: 'carrel-run-objects', now: () => NOW });
const inFive = new Date(NOW.getTime() + 300_000);

afterEach(() => s3.reset());

describe('S3CheckedLinks', () => {
  it('confirms the pinned version with one HeadObject on its VersionId and presigns a GET of exactly that version, reading no bytes', async () => {
    // Prepare
    s3.on(HeadObjectCommand).resolves({ ContentLength: FIVE_GB, VersionId: 'v-123' });
    // Act
    const url = new URL(await links().pinnedLink(KEY, PINNED, inFive, 'r1-outputs.tar.gz'));
    // Assess
    assert.deepEqual(s3.commandCalls(HeadObjectCommand).map((c) => c.args[0].input), [{ Bucket: 'carrel-run-objects', Key: KEY, VersionId: 'v-123' }]);
    assert.equal(s3.commandCalls(GetObjectCommand).length, 0, 'no byte of the archive is read');
    assert.equal(s3.calls().length, 1);
    assert.equal(url.pathname, `/${KEY}`);
    assert.equal(url.searchParams.get('versionId'), 'v-123');
    assert.equal(url.searchParams.get('X-Amz-Expires'), '300');
    assert.equal(url.searchParams.get('response-content-disposition'), 'attachment; filename="r1-outputs.tar.gz"');
    assert.ok(url.searchParams.get('X-Amz-SignedHeaders'));
  });

  it('links the pinned version, never a later version of the same key', async () => {
    // Prepare: a later PUT made v-999 the current version of the key
    s3.on(HeadObjectCommand, { VersionId: 'v-123' }).resolves({ ContentLength: FIVE_GB, VersionId: 'v-123' });
    s3.on(HeadObjectCommand, { VersionId: undefined }).resolves({ ContentLength: 12, VersionId: 'v-999' });
    // Act
    const url = new URL(await links().pinnedLink(KEY, PINNED, inFive, 'x.tar.gz'));
    // Assess
    assert.equal(url.searchParams.get('versionId'), 'v-123');
    assert.deepEqual(s3.commandCalls(HeadObjectCommand).map((c) => c.args[0].input.VersionId), ['v-123']);
  });

  it('links nothing when the version holds another size than the one checked at release (IntegrityError)', async () => {
    // Prepare
    s3.on(HeadObjectCommand).resolves({ ContentLength: FIVE_GB - 1, VersionId: 'v-123' });
    // Act / Assess
    await assert.rejects(links().pinnedLink(KEY, PINNED, inFive, 'x'), (e: unknown) => e instanceof IntegrityError && /not the 5368709120 checked at release/.test(e.message));
  });

  it('answers IntegrityError when the pinned version is gone (NotFound, NoSuchVersion, a delete marker)', async () => {
    const gone = [
      serviceError(NotFound as never, 'NotFound', 404),
      serviceError(S3ServiceException as never, 'NoSuchVersion', 404, 'The specified version does not exist.'),
      serviceError(S3ServiceException as never, 'MethodNotAllowed', 405, 'The specified method is not allowed against this resource.'),
    ];
    for (const cause of gone) {
      // Prepare
      s3.reset();
      s3.on(HeadObjectCommand).rejects(cause);
      // Act / Assess
      await assert.rejects(links().pinnedLink(KEY, PINNED, inFive, 'x'), (e: unknown) => e instanceof IntegrityError && /version v-123 .* is gone .*nothing was linked/.test(e.message), cause.name);
    }
  });

  it('maps throttling, 5xx, timeouts and resets to TransientError (503, try again), AccessDenied unchanged', async () => {
    const cases: [Error, (e: unknown) => boolean][] = [
      [throttling(S3ServiceException as never, 'SlowDown'), (e) => e instanceof TransientError],
      [serviceError(S3ServiceException as never, 'SlowDown', 503, 'Please reduce your request rate.'), (e) => e instanceof TransientError],
      [internalError(S3ServiceException as never), (e) => e instanceof TransientError],
      [timeoutError(), (e) => e instanceof TransientError],
      [connectionReset(), (e) => e instanceof TransientError],
    ];
    const denied = serviceError(S3ServiceException as never, 'AccessDenied', 403, 'Access Denied');
    cases.push([denied, (e) => e === denied]);
    for (const [cause, expected] of cases) {
      // Prepare
      s3.reset();
      s3.on(HeadObjectCommand).rejects(cause);
      // Act / Assess
      await assert.rejects(links().pinnedLink(KEY, PINNED, inFive, 'x'), expected, cause.name);
    }
  });

  it('refuses a link that would be expired or last over 7 days, asking S3 nothing', async () => {
    // Act / Assess
    await assert.rejects(links().pinnedLink(KEY, PINNED, NOW, 'x'), ValidationError);
    await assert.rejects(links().pinnedLink(KEY, PINNED, new Date(NOW.getTime() + 8 * 86400_000), 'x'), ValidationError);
    assert.equal(s3.calls().length, 0);
  });
});
