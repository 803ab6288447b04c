/**
 * Collects a finished run's outputs on AWS: what the run task wrote under `runs/<analysisId>/<runId>/` of the
 * outputs bucket (the only place its role may write) becomes one archive and its manifest in the run objects
 * store (`runs/<analysisId>/<runId>/outputs.tar.gz`, `.../outputs.manifest.json`): what reviewers see and what
 * is released. Nothing else the run did leaves the enclave.
 *
 * The objects are copied into a private temporary folder first (Lambda's /tmp), then archived with the same
 * code as local mode (adapters/archive.ts), so the manifest is computed from the archive's own bytes. A retried
 * collect finds the archive stored by an earlier attempt and accepts it if it is whole and matches its manifest.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { NotFoundError } from '../../core/errors.js';
import type { ArchiveReader, CollectedOutputs, OutputsCollector } from '../../core/runs/deps.js';
import { IntegrityError } from '../../core/runs/manifest.js';
import type { ObjectStore } from '../../core/runs/ports.js';
import type { Run, RunKey } from '../../core/runs/run.js';
import { storeOutputs } from '../archive.js';
import { rethrowAwsError } from './clients/errors.js';

/** Where a run task writes its outputs in the outputs bucket (the task role may write only under `runs/`). */
export function runOutputsPrefix(key: RunKey): string {
  return `runs/${key.analysisId}/${key.runId}/`;
}

/** Where the collected outputs of a run are stored in the run objects store. */
export function collectedOutputKeys(key: RunKey): { readonly archiveKey: string; readonly manifestKey: string } {
  return { archiveKey: `runs/${key.analysisId}/${key.runId}/outputs.tar.gz`, manifestKey: `runs/${key.analysisId}/${key.runId}/outputs.manifest.json` };
}

export interface S3OutputsCollectorOptions {
  /** The bucket the run tasks write to. */
  readonly outputsBucket: string;
  /** A run with more output files than this fails to collect (reviewers could not look at them anyway). @default 10000 */
  readonly maxFiles?: number;
  /** Nor more bytes in all (Lambda's ephemeral storage holds them). @default 5 GiB */
  readonly maxBytes?: number;
}

export class S3OutputsCollector implements OutputsCollector {
  constructor(
    private readonly s3: S3Client,
    private readonly objects: ObjectStore,
    private readonly archives: ArchiveReader,
    private readonly options: S3OutputsCollectorOptions,
  ) {}

  async collect(run: Run): Promise<CollectedOutputs> {
    const dir = await mkdtemp(join(tmpdir(), 'carrel-outputs-'));
    try {
      await this.download(run, dir);
      // The object versions S3 gave the archive and its manifest are answered with them (the run pins them).
      return await storeOutputs(this.objects, this.archives, dir, collectedOutputKeys(run));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private async download(run: Run, dir: string): Promise<void> {
    const prefix = runOutputsPrefix(run);
    const maxFiles = this.options.maxFiles ?? 10_000;
    const maxBytes = this.options.maxBytes ?? 5 * 1024 ** 3;
    let files = 0;
    let bytes = 0;
    let token: string | undefined;
    do {
      const listing = new ListObjectsV2Command({ Bucket: this.options.outputsBucket, Prefix: prefix, ContinuationToken: token });
      const page = await this.guard(`Listing the outputs of ${run.runId}`, () => this.s3.send(listing));
      for (const object of page.Contents ?? []) {
        const relative = object.Key!.slice(prefix.length);
        if (relative === '' || relative.endsWith('/')) continue; // a folder marker
        const normal = posix.normalize(relative);
        // S3 keys are not paths: a key that would land outside the folder is refused, not rewritten.
        if (normal !== relative || normal.startsWith('../') || posix.isAbsolute(normal)) {
          throw new IntegrityError(`The run wrote an output whose name is not a plain relative path: ${JSON.stringify(relative)}`);
        }
        files += 1;
        bytes += object.Size ?? 0;
        if (files > maxFiles) throw new IntegrityError(`The run wrote more than ${maxFiles} output files`);
        if (bytes > maxBytes) throw new IntegrityError(`The run wrote more than ${maxBytes} bytes of outputs`);
        const target = join(dir, ...normal.split('/'));
        await mkdir(dirname(target), { recursive: true });
        const read = new GetObjectCommand({ Bucket: this.options.outputsBucket, Key: object.Key });
        const out = await this.guard(`Reading the output ${relative}`, () => this.s3.send(read));
        if (!(out.Body instanceof Readable)) throw new Error(`S3 returned no stream for ${object.Key}`);
        await pipeline(out.Body, createWriteStream(target, { flags: 'wx' }));
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** A missing object or bucket is NotFound (not retried); throttling, 5xx and timeouts are transient. */
  private async guard<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error && typeof error === 'object' && (error as { name?: string }).name === 'NoSuchKey') throw new NotFoundError(`${what}: it is gone`, { cause: error });
      if (error && typeof error === 'object' && (error as { name?: string }).name === 'NoSuchBucket') throw new NotFoundError(`${what}: no bucket ${this.options.outputsBucket}`, { cause: error });
      rethrowAwsError(error, what);
    }
  }
}
