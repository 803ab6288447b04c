/**
 * Files out of stored tar.gz archives (a submission, a run's outputs), for the review console's file view
 * and the release download. Streams the archive; holds in memory only what it returns.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { formatBytes } from '../core/bytes.js';
import { ConflictError } from '../core/errors.js';
import type { ArchiveFiles } from '../core/runs/api.js';
import type { ObjectStore } from '../core/runs/ports.js';
import { manifestOfArchive } from './archive.js';

const strip = (entryPath: string) => entryPath.replace(/^\.\//, '').replace(/\/$/, '');

/** The first `maxBytes` of `path` in the tar.gz `archive`, with its whole size and sha256; undefined when absent. */
export async function readArchiveFile(archive: Readable, path: string, maxBytes: number): Promise<{ bytes: Buffer; size: number; sha256: string } | undefined> {
  let found: Promise<{ bytes: Buffer; size: number; sha256: string }> | undefined;
  const parser = new tar.Parser({
    strict: true,
    onReadEntry: (entry) => {
      if (found || strip(entry.path) !== path || entry.type !== 'File') {
        entry.resume();
        return;
      }
      found = new Promise((resolve, reject) => {
        const hash = createHash('sha256');
        const kept: Buffer[] = [];
        let size = 0;
        entry.on('data', (chunk: Buffer) => {
          if (size < maxBytes) kept.push(chunk.subarray(0, maxBytes - size));
          size += chunk.length;
          hash.update(chunk);
        });
        entry.on('end', () => resolve({ bytes: Buffer.concat(kept), size, sha256: hash.digest('hex') }));
        entry.on('error', reject);
      });
    },
  });
  await pipeline(archive, parser);
  return found;
}

export class StoredArchiveFiles implements ArchiveFiles {
  constructor(private readonly objects: ObjectStore) {}

  async file(archiveKey: string, path: string, maxBytes: number, revision?: string) {
    return readArchiveFile(await this.objects.get(archiveKey, revision), path, maxBytes);
  }

  async load(archiveKey: string, maxBytes: number, revision?: string) {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of await this.objects.get(archiveKey, revision)) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) throw new ConflictError(`The outputs are larger than the ${formatBytes(maxBytes)} the desk serves whole: download their files one by one`);
      chunks.push(Buffer.from(chunk as Buffer));
    }
    const bytes = Buffer.concat(chunks);
    // The manifest of exactly these bytes: what is served is what is checked.
    return { bytes, manifest: await manifestOfArchive(Readable.from([bytes])) };
  }
}
