/**
 * HomeSnapshots in local mode: the researcher's home folder (local/homes.ts) archived straight into the
 * object store, leaving out the configured patterns. (On AWS the home is on EFS: docs/contracts.md.)
 */
import { stat } from 'node:fs/promises';
import { NotFoundError } from '../../lambdas/core/errors.js';
import type { HomeSnapshots } from '../../lambdas/core/runs/api.js';
import type { ObjectStore } from '../../lambdas/core/runs/ports.js';
import { storeArchive } from '../../lambdas/adapters/archive.js';
import type { LocalHomes } from '../homes.js';

export class LocalHomeSnapshots implements HomeSnapshots {
  constructor(
    private readonly homes: Pick<LocalHomes, 'pathOf'>,
    private readonly objects: ObjectStore,
    private readonly exclude: readonly string[],
  ) {}

  async snapshot(home: { readonly analysisId: string; readonly userId: string }, keys: { readonly archiveKey: string; readonly manifestKey: string }) {
    const path = this.homes.pathOf(home);
    const isDir = await stat(path).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!isDir) throw new NotFoundError(`No home for ${home.userId} in ${home.analysisId}`);
    return storeArchive(this.objects, path, keys, { exclude: this.exclude });
  }
}
