/**
 * HomeSnapshots over homes on this machine's file system, archived straight into the object store
 * (streamed, manifest from the archive's own bytes), leaving out the configured patterns. The home-snapshot
 * Lambda runs it over the homes' EFS, mounted read-only at the homes' parent directory
 * (`<root>/<analysisId>/<userId>`, lib/constructs/enclave-aws.ts); the local runtime over its home folders.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { NotFoundError } from '../core/errors.js';
import type { HomeSnapshots } from '../core/runs/api.js';
import type { Manifest } from '../core/runs/manifest.js';
import type { ObjectStore } from '../core/runs/ports.js';
import { storeOrAdoptArchive } from './archive.js';
import { homePath } from './aws/efs-homes.js';

type HomeKey = { readonly analysisId: string; readonly userId: string };

export class MountedHomeSnapshots implements HomeSnapshots {
  constructor(
    /** The mounted homes' parent directory (EFS `/homes`), or where each home is (the local runtime's homes). */
    private readonly homes: string | { pathOf(home: HomeKey): string },
    private readonly objects: ObjectStore,
    private readonly exclude: readonly string[],
    /** The largest archive accepted. @default MAX_ARCHIVE_BYTES */
    private readonly maxBytes?: number,
  ) {}

  async snapshot(home: HomeKey, keys: { readonly archiveKey: string; readonly manifestKey: string }): Promise<Manifest> {
    const path = typeof this.homes === 'string' ? this.underRoot(this.homes, home) : this.homes.pathOf(home);
    const isDir = await stat(path).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!isDir) throw new NotFoundError(`No home for ${home.userId} in ${home.analysisId}`);
    // A retried ArchiveHome finds what its earlier attempt stored, and answers that (checked) snapshot.
    const options = { exclude: this.exclude, ...(this.maxBytes ? { maxBytes: this.maxBytes } : {}) };
    return (await storeOrAdoptArchive(this.objects, path, keys, options, 'The home archived by an earlier attempt')).manifest;
  }

  private underRoot(root: string, home: HomeKey): string {
    // The same id checks (single safe path segments) as the access point per home: never `..` out of the root.
    homePath(home);
    return join(root, home.analysisId, home.userId);
  }
}
