/**
 * The enclave's immutable objects on S3 (submitted archives and manifests, collected outputs): one bucket,
 * versioned and KMS-encrypted (lib/constructs/enclave-aws.ts).
 *
 * - `putNew` writes with `If-None-Match: *` (S3 conditional writes): S3 itself refuses to replace a key, so a
 *   submission or a collected output cannot be overwritten even by a retried or concurrent step. A stream is
 *   spooled to a temporary file first (S3 needs the length of a single PUT; nothing is held in memory).
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
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ConflictError, NotFoundError, ValidationError } from '../../core/errors.js';
import type { ObjectStore } from '../../core/runs/ports.js';
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

export class S3ObjectStore implements ObjectStore {
  constructor(
    private readonly s3: S3Client,
    private readonly options: S3ObjectStoreOptions,
  ) {}

  async putNew(key: string, body: Buffer | Readable): Promise<void> {
    if (Buffer.isBuffer(body)) return this.put(key, body, body.length);
    const dir = await mkdtemp(join(tmpdir(), 'carrel-put-'));
    try {
      const file = join(dir, 'body');
      await pipeline(body, createWriteStream(file));
      await this.put(key, createReadStream(file), (await stat(file)).size);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private async put(key: string, body: Buffer | Readable, length: number): Promise<void> {
    try {
      await this.s3.send(
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
    } catch (error) {
      // 412: the key exists. 409: a concurrent conditional write to the same key is in flight.
      const name = errorName(error);
      if (name === 'PreconditionFailed' || name === 'ConditionalRequestConflict') {
        throw new ConflictError(`The object ${key} exists already: stored objects are never replaced`, { cause: error });
      }
      rethrowAwsError(error, `Storing ${key}`);
    }
  }

  async get(key: string): Promise<Readable> {
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: key }));
      if (!(out.Body instanceof Readable)) throw new Error(`S3 returned no stream for ${key}`);
      return out.Body;
    } catch (error) {
      if (errorName(error) === 'NoSuchKey') throw new NotFoundError(`No stored object ${key}`, { cause: error });
      rethrowAwsError(error, `Reading ${key}`);
    }
  }

  async link(key: string, expiresAt: Date): Promise<string> {
    const seconds = Math.floor((expiresAt.getTime() - (this.options.now ?? (() => new Date()))().getTime()) / 1000);
    if (seconds < 1) throw new ValidationError(`A link to ${key} would already have expired`);
    if (seconds > MAX_LINK_SECONDS) throw new ValidationError(`A presigned link lasts at most 7 days; ${key} was asked for ${seconds} s`);
    return getSignedUrl(this.s3, new GetObjectCommand({ Bucket: this.options.bucket, Key: key }), { expiresIn: seconds });
  }
}
