/**
 * The object store of local mode: one file per key under a folder. New objects are written to a temporary
 * file and hard-linked into place, which fails if the key exists: objects are immutable, as on S3 with
 * the bucket policy carrel uses. Links are HMAC-signed and expire. It keeps no versions (an object never
 * changes), so it answers no revision and refuses to read one.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { access, link, mkdir, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ConflictError, NotFoundError } from '../../lambdas/core/errors.js';
import { assertRelativePath } from '../../lambdas/core/runs/manifest.js';
import type { ObjectStore, StoredObject } from '../../lambdas/core/runs/ports.js';

export class FolderObjectStore implements ObjectStore {
  constructor(
    readonly root: string,
    /** Where the desk serves downloads (e.g. `http://app.localhost:8080/api/objects`). */
    private readonly linkBase: string,
    private readonly linkSecret: Buffer = randomBytes(32),
  ) {}

  pathOf(key: string): string {
    assertRelativePath(key);
    return join(this.root, key);
  }

  async putNew(key: string, body: Buffer | Readable): Promise<StoredObject> {
    const path = this.pathOf(key);
    await mkdir(dirname(path), { recursive: true });
    const partial = `${path}.partial-${randomBytes(6).toString('hex')}`;
    try {
      await pipeline(Buffer.isBuffer(body) ? [body] : body, createWriteStream(partial, { flags: 'wx' }));
      await link(partial, path);
      return {};
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new ConflictError(`Object ${key} exists; objects are never replaced`, { cause: error });
      throw error;
    } finally {
      await unlink(partial).catch(() => undefined);
    }
  }

  async get(key: string, revision?: string): Promise<Readable> {
    const path = this.pathOf(key);
    this.assertNoRevision(key, revision);
    try {
      await access(path);
    } catch (error) {
      throw new NotFoundError(`No object ${key}`, { cause: error });
    }
    return createReadStream(path);
  }

  async head(key: string, revision?: string): Promise<{ readonly size: number }> {
    const path = this.pathOf(key);
    this.assertNoRevision(key, revision);
    try {
      return { size: (await stat(path)).size };
    } catch (error) {
      throw new NotFoundError(`No object ${key}`, { cause: error });
    }
  }

  /** This store never answered a revision, so one asked for is not here (rather than silently reading the current bytes). */
  private assertNoRevision(key: string, revision: string | undefined): void {
    if (revision !== undefined) throw new NotFoundError(`No revision ${revision} of ${key}: the local object store keeps no versions`);
  }

  private signature(key: string, expiresMs: number): string {
    return createHmac('sha256', this.linkSecret).update(`${key}\n${expiresMs}`).digest('base64url');
  }

  async link(key: string, expiresAt: Date): Promise<string> {
    const expires = expiresAt.getTime();
    return `${this.linkBase}/${key.split('/').map(encodeURIComponent).join('/')}?expires=${expires}&sig=${this.signature(key, expires)}`;
  }

  /** The key a link grants, if its signature is good and it has not expired at `now`. */
  verifyLink(url: string, now: Date): string | undefined {
    const parsed = new URL(url, 'http://local');
    const base = new URL(this.linkBase, 'http://local').pathname.replace(/\/$/, '');
    if (!parsed.pathname.startsWith(`${base}/`)) return undefined;
    const key = parsed.pathname.slice(base.length + 1).split('/').map(decodeURIComponent).join('/');
    const expires = Number(parsed.searchParams.get('expires'));
    const sig = Buffer.from(parsed.searchParams.get('sig') ?? '');
    const good = Buffer.from(this.signature(key, expires));
    if (!Number.isFinite(expires) || sig.length !== good.length || !timingSafeEqual(sig, good)) return undefined;
    return now.getTime() < expires ? key : undefined;
  }
}
