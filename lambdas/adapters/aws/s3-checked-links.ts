/**
 * CheckedLinks on S3: a presigned GET of exactly the object VERSION the run pinned at collect and the release step
 * read in full against the approved manifest. At download time nothing is read: one HeadObject on that VersionId
 * confirms the version still exists with the size checked at release, so a download link of a 5 GB archive is
 * answered in well under a second (the desk's function answers within the HTTP API's ~26 s). The run-objects bucket
 * is versioned, refuses replacing a key and deleting a version (lib/constructs/enclave-aws.ts), and a version's
 * bytes never change, so what the link serves is what was checked.
 *
 * The link is signed by the function's role (its session outlives the few minutes the link lasts); HeadObject and
 * GetObject of a version need s3:GetObjectVersion, and the bucket's KMS key lets the role decrypt.
 */
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ValidationError } from '../../core/errors.js';
import type { CheckedLinks } from '../../core/runs/api.js';
import { IntegrityError } from '../../core/runs/manifest.js';
import { rethrowAwsError } from './clients/errors.js';
import { isMissingObject, MAX_LINK_SECONDS } from './s3-object-store.js';

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

  async pinnedLink(key: string, pinned: { readonly revision: string; readonly size: number }, expiresAt: Date, fileName: string): Promise<string> {
    const seconds = Math.floor((expiresAt.getTime() - (this.options.now ?? (() => new Date()))().getTime()) / 1000);
    if (seconds < 1) throw new ValidationError(`A link to ${key} would already have expired`);
    if (seconds > MAX_LINK_SECONDS) throw new ValidationError(`A presigned link lasts at most 7 days; ${key} was asked for ${seconds} s`);
    let head;
    try {
      head = await this.s3.send(new HeadObjectCommand({ Bucket: this.options.bucket, Key: key, VersionId: pinned.revision }));
    } catch (error) {
      if (isMissingObject(error)) {
        const name = (error as { name?: string }).name ?? 'NotFound';
        throw new IntegrityError(`The released version ${pinned.revision} of ${key} is gone from the store (${name}): nothing was linked`);
      }
      return rethrowAwsError(error, `Looking up ${key} (version ${pinned.revision})`);
    }
    if (head.VersionId !== undefined && head.VersionId !== pinned.revision) {
      throw new IntegrityError(`S3 answered version ${head.VersionId} of ${key} for ${pinned.revision}: nothing was linked`);
    }
    if (head.ContentLength !== pinned.size) {
      throw new IntegrityError(`The released version of ${key} holds ${head.ContentLength ?? 'unknown'} bytes, not the ${pinned.size} checked at release: nothing was linked`);
    }
    const safeName = fileName.replace(/[^A-Za-z0-9._-]/g, '_');
    return getSignedUrl(
      this.s3,
      new GetObjectCommand({
        Bucket: this.options.bucket,
        Key: key,
        VersionId: pinned.revision,
        ResponseContentDisposition: `attachment; filename="${safeName}"`,
        ResponseContentType: 'application/gzip',
        ResponseCacheControl: 'no-store',
      }),
      { expiresIn: seconds },
    );
  }
}
