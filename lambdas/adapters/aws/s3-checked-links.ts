/**
 * CheckedLinks on S3: reads the object once (streamed, hashing every byte and taking the manifest of the
 * archive), and presigns a GET of exactly that object VERSION. The run-objects bucket is versioned and refuses
 * replacing a key or deleting a version (lib/constructs/enclave-aws.ts), and a version's bytes never change,
 * so what the link serves is what was checked, however large (no Lambda answer limit).
 *
 * The link is signed by the function's role (its session outlives the few minutes the link lasts); a GET of a
 * version needs s3:GetObjectVersion, and the bucket's KMS key lets the role decrypt.
 */
import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { NotFoundError, ValidationError } from '../../core/errors.js';
import type { CheckedLinks } from '../../core/runs/api.js';
import { IntegrityError, type Manifest } from '../../core/runs/manifest.js';
import { manifestOfArchive } from '../archive.js';
import { isTransientAwsError, rethrowAwsError } from './clients/errors.js';
import { MAX_LINK_SECONDS } from './s3-object-store.js';

export interface S3CheckedLinksOptions {
  readonly bucket: string;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

export class S3CheckedLinks implements CheckedLinks {
  constructor(
    private readonly s3: S3Client,
    private readonly options: S3CheckedLinksOptions,
  ) {}

  async checkedLink(key: string, expiresAt: Date, fileName: string): Promise<{ readonly manifest: Manifest; readonly sha256: string; readonly url: string }> {
    const seconds = Math.floor((expiresAt.getTime() - (this.options.now ?? (() => new Date()))().getTime()) / 1000);
    if (seconds < 1) throw new ValidationError(`A link to ${key} would already have expired`);
    if (seconds > MAX_LINK_SECONDS) throw new ValidationError(`A presigned link lasts at most 7 days; ${key} was asked for ${seconds} s`);
    let out;
    try {
      out = await this.s3.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: key }));
    } catch (error) {
      if ((error as { name?: string } | undefined)?.name === 'NoSuchKey') throw new NotFoundError(`No stored object ${key}`, { cause: error });
      return rethrowAwsError(error, `Reading ${key}`);
    }
    if (!(out.Body instanceof Readable)) throw new Error(`S3 returned no stream for ${key}`);
    // Without a version the link could serve bytes written after the check: refuse rather than link the key.
    if (!out.VersionId || out.VersionId === 'null') throw new IntegrityError(`${key} has no object version (is the bucket versioned?): nothing was linked`);
    const hash = createHash('sha256');
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        done(null, chunk);
      },
    });
    out.Body.on('error', (error) => hashing.destroy(error));
    out.Body.pipe(hashing);
    let manifest: Manifest;
    try {
      manifest = await manifestOfArchive(hashing);
      // Whatever the parser left unread (gzip padding) is hashed too: the digest covers every byte served.
      for await (const _ of hashing) void _;
    } catch (error) {
      if (error instanceof IntegrityError) throw error;
      // A broken connection is worth retrying; bytes that are no archive are not.
      if (isTransientAwsError(error)) return rethrowAwsError(error, `Reading ${key}`);
      throw new IntegrityError(`${key} is not a readable outputs archive (${error instanceof Error ? error.message : String(error)}): nothing was linked`);
    }
    const safeName = fileName.replace(/[^A-Za-z0-9._-]/g, '_');
    const url = await getSignedUrl(
      this.s3,
      new GetObjectCommand({
        Bucket: this.options.bucket,
        Key: key,
        VersionId: out.VersionId,
        ResponseContentDisposition: `attachment; filename="${safeName}"`,
        ResponseContentType: 'application/gzip',
        ResponseCacheControl: 'no-store',
      }),
      { expiresIn: seconds },
    );
    return { manifest, sha256: hash.digest('hex'), url };
  }
}
