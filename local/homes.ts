import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HomeRef, HomesPort, WorkspaceKey } from '../lambdas/core/index.js';

const SAFE = /^[a-z0-9][a-z0-9._-]{0,62}$/i;

/**
 * Local stand-in for the per-analysis, per-researcher EFS access point: a folder created once (0700)
 * and kept forever. First use fills a blank project.
 */
export class LocalHomes implements HomesPort {
  constructor(private readonly root: string) {}

  pathOf(key: WorkspaceKey): string {
    if (!SAFE.test(key.analysisId) || !SAFE.test(key.userId)) throw new Error('Unsafe analysis or user id for a home folder');
    return join(this.root, key.analysisId, key.userId);
  }

  async ensure(key: WorkspaceKey): Promise<HomeRef> {
    const path = this.pathOf(key);
    const exists = await stat(path).then(
      () => true,
      () => false,
    );
    if (exists) return { homeId: path, created: false };
    await mkdir(path, { recursive: true, mode: 0o700 });
    await chmod(path, 0o700);
    await writeFile(
      join(path, 'README.md'),
      `# ${key.analysisId}\n\nYour carrel workspace for analysis \`${key.analysisId}\`. Files here are kept between sessions.\n`,
      { flag: 'wx' },
    ).catch(() => undefined);
    return { homeId: path, created: true };
  }
}
