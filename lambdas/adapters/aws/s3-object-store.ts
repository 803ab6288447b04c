/**
 * The enclave's immutable objects on S3 (submitted archives and manifests, collected outputs): one bucket,
 * versioned and KMS-encrypted (lib/constructs/enclave-aws.ts).
 *
 * - `putNew` writes with `If-None-Match: *` (S3 conditional writes): S3 itself refuses to replace a key, so a
 *   submission or a collected output cannot be overwritten even by a retried or concurrent step. A stream is
 *   spooled to a temporary file first (S3 needs the length of a single PUT; nothing is held in memory).
 * - Every write answers the object VERSION S3 made (the bucket is versioned), and `get`/`head` read exactly a
 *   version when asked: a run pins its collected outputs to the versions written, so a later object at the same
 *   key (if anything could make one) is never read or linked in their place.
 * - `link` is a presigned GET. It works until `expiresAt` or until the signing credentials expire, whichever
 *   comes first: a Lambda role's session lasts hours, so a long-lived release link belongs to the desk
 *   (which presigns at download time); this refuses anything SigV4 cannot sign (over 7 days).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ConflictError, NotFoundError, ValidationError } from '../../core/errors.js';
import type { ObjectStore, StoredObject } from '../../core/runs/ports.js';
import { rethrowAwsError } from './clients/errors.js';

/** SigV4's ceiling for a presigned URL. */
export const MAX_LINK_SECONDS = 7 * 24 * 3600;

export interface S3ObjectStoreOptions {
  readonly bucket: string;
  /** The bucket's KMS key: every object is written with it (the bucket policy refuses others). */
  readonly kmsKeyId: string;
  /** The clock for links. @default () => new Date() */
  readonly now?: () => Date;
}

function errorName(error: unknown): string | undefined {
  return error && typeof error === 'object' && 'name' in error ? String((error as { name: unknown }).name) : undefined;
}

/**
 * S3's answers for "no such object or version": GetObject names them (NoSuchKey, NoSuchVersion); HeadObject has no
 * body, so the SDK names a 404 `NotFound`; a version id that is a delete marker answers 405 (MethodNotAllowed).
 */
export function isMissingObject(error: unknown): boolean {
  const name = errorName(error);
  if (name === 'NoSuchKey' || name === 'NoSuchVersion' || name === 'NotFound' || name === 'MethodNotAllowed') return true;
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode === 404;
}

/** S3 answers VersionId "null" for objects written while versioning was off: that names no fixed bytes. */
export function revisionOf(versionId: string | undefined): StoredObject {
  return versionId && versionId !== 'null' ? { revision: versionId } : {};
}

export class S3ObjectStore implements ObjectStore {
  constructor(
    private readonly s3: S3Client,
    private readonly options: S3ObjectStoreOptions,
  ) {}

  async putNew(key: string, body: Buffer | Readable): Promise<StoredObject> {
    if (Buffer.isBuffer(body)) return this.put(key, body, body.length);
    const dir = await mkdtemp(join(tmpdir(), 'carrel-put-'));
    try {
      const file = join(dir, 'body');
      await pipeline(body, createWriteStream(file));
      return await this.put(key, createReadStream(file), (await stat(file)).size);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private async put(key: string, body: Buffer | Readable, length: number): Promise<StoredObject> {
    try {
      const out = await this.s3.send(
        new PutObjectCommand({
          Bucket: this.options.bucket,
          Key: key,
          Body: body,
          ContentLength: length,
          IfNoneMatch: '*',
          ServerSideEncryption: 'aws:kms',
          SSEKMSKeyId: this.options.kmsKeyId,
          BucketKeyEnabled: true,
        }),
      );
      return revisionOf(out.VersionId);
    } catch (error) {
      // 412: the key exists. 409: a concurrent conditional write to the same key is in flight.
      const name = errorName(error);
      if (name === 'PreconditionFailed' || name === 'ConditionalRequestConflict') {
        throw new ConflictError(`The object ${key} exists already: stored objects are never replaced`, { cause: error });
      }
      rethrowAwsError(error, `Storing ${key}`);
    }
  }

  async get(key: string, revision?: string): Promise<Readable> {
    const what = revision ? `${key} (version ${revision})` : key;
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: key, ...(revision ? { VersionId: revision } : {}) }));
      if (!(out.Body instanceof Readable)) throw new Error(`S3 returned no stream for ${what}`);
      return out.Body;
    } catch (error) {
      if (isMissingObject(error)) throw new NotFoundError(`No stored object ${what}`, { cause: error });
      rethrowAwsError(error, `Reading ${what}`);
    }
  }

  async head(key: string, revision?: string): Promise<StoredObject & { readonly size: number }> {
    const what = revision ? `${key} (version ${revision})` : key;
    try {
      const out = await this.s3.send(new HeadObjectCommand({ Bucket: this.options.bucket, Key: key, ...(revision ? { VersionId: revision } : {}) }));
      return { size: out.ContentLength ?? 0, ...revisionOf(out.VersionId) };
    } catch (error) {
      if (isMissingObject(error)) throw new NotFoundError(`No stored object ${what}`, { cause: error });
      rethrowAwsError(error, `Looking up ${what}`);
    }
  }

  async link(key: string, expiresAt: Date): Promise<string> {
    const seconds = Math.floor((expiresAt.getTime() - (this.options.now ?? (() => new Date()))().getTime()) / 1000);
    if (seconds < 1) throw new ValidationError(`A link to ${key} would already have expired`);
    if (seconds > MAX_LINK_SECONDS) throw new ValidationError(`A presigned link lasts at most 7 days; ${key} was asked for ${seconds} s`);
    return getSignedUrl(this.s3, new GetObjectCommand({ Bucket: this.options.bucket, Key: key }), { expiresIn: seconds });
  }
}
