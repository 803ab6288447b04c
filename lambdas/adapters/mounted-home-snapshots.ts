/**
 * HomeSnapshots over a folder of homes mounted on this machine: `<root>/<analysisId>/<userId>`, archived
 * straight into the object store (streamed, manifest from the archive's own bytes), leaving out the
 * configured patterns. The home-snapshot Lambda runs it over the homes' EFS, mounted read-only at the
 * homes' parent directory (lib/constructs/enclave-aws.ts).
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { NotFoundError } from '../core/errors.js';
import type { HomeSnapshots } from '../core/runs/api.js';
import type { Manifest } from '../core/runs/manifest.js';
import type { ObjectStore } from '../core/runs/ports.js';
import { storeArchive } from './archive.js';
import { homePath } from './aws/efs-homes.js';

export class MountedHomeSnapshots implements HomeSnapshots {
  constructor(
    /** The mounted homes' parent directory (EFS `/homes`). */
    private readonly root: string,
    private readonly objects: ObjectStore,
    private readonly exclude: readonly string[],
  ) {}

  async snapshot(home: { readonly analysisId: string; readonly userId: string }, keys: { readonly archiveKey: string; readonly manifestKey: string }): Promise<Manifest> {
    // The same id checks (single safe path segments) as the access point per home: never `..` out of the root.
    homePath(home);
    const path = join(this.root, home.analysisId, home.userId);
    const isDir = await stat(path).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!isDir) throw new NotFoundError(`No home for ${home.userId} in ${home.analysisId}`);
    return storeArchive(this.objects, path, keys, { exclude: this.exclude });
  }
}
