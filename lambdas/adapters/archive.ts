/**
 * Archives of a folder (a researcher's home, a run's outputs): tar + gzip, streamed, with the manifest
 * computed from the archive's own bytes, so the manifest describes exactly what was archived even while
 * the folder changes underneath. Only regular files and folders go in; symlinks, devices and the
 * excluded patterns stay out. Reading an archive refuses anything else it holds.
 *
 * No AWS SDK here: the object store adapters (S3, a local folder) carry the bytes.
 */
import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { lstat, mkdir, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { PassThrough, Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors.js';
import { assertMatches, buildManifest, IntegrityError, type Manifest, type ManifestEntry } from '../core/runs/manifest.js';
import type { ArchiveCheck, ArchiveReader, CollectedOutputs } from '../core/runs/deps.js';
import type { ObjectStore, StoredObject } from '../core/runs/ports.js';
import { readStoredManifest } from '../core/runs/use-cases.js';

/**
 * What a home archive leaves out by default: version control, caches, checkpoints and the synthetic
 * data folder (the run gets the real data instead). Deployments configure their own list.
 */
export const DEFAULT_EXCLUDES: readonly string[] = ['.git', '__pycache__', '.ipynb_checkpoints', '.cache', '*.pyc', '.Rproj.user', 'data/synthetic'];

/**
 * A matcher for exclusion patterns, gitignore-like and deliberately small:
 * - a pattern without `/` matches any file or folder of that name at any depth (`*` and `?` wildcards);
 * - a pattern with `/` matches that path from the archive's root, and everything under it.
 */
export function excluder(patterns: readonly string[]): (relPath: string) => boolean {
  const toRegex = (glob: string) =>
    glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  const names: RegExp[] = [];
  const paths: RegExp[] = [];
  for (const raw of patterns) {
    const p = raw.trim().replace(/^\/+|\/+$/g, '');
    if (!p) continue;
    if (p.split('/').some((s) => s === '..')) throw new ValidationError(`Exclusion pattern may not contain '..': ${raw}`);
    if (p.includes('/')) paths.push(new RegExp(`^${toRegex(p)}(/.*)?$`));
    else names.push(new RegExp(`^${toRegex(p)}$`));
  }
  return (relPath) => {
    const path = relPath === '.' ? '' : relPath.replace(/^\.\//, '');
    if (!path) return false;
    if (paths.some((r) => r.test(path))) return true;
    return path.split('/').some((segment) => names.some((r) => r.test(segment)));
  };
}

function archivePath(entryPath: string): string {
  return entryPath.replace(/^\.\//, '').replace(/\/$/, '');
}

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);

/**
 * The manifest of a tar.gz stream, hashing every file as it streams by (bounded memory). Refuses
 * (IntegrityError) an archive holding links, devices, bad paths or the same path twice.
 */
export async function manifestOfArchive(archive: Readable): Promise<Manifest> {
  const entries: ManifestEntry[] = [];
  const pending: Promise<void>[] = [];
  let refused: IntegrityError | undefined;
  const parser = new tar.Parser({
    strict: true,
    onReadEntry: (entry) => {
      const path = archivePath(entry.path);
      if (entry.type === 'Directory' || path === '') {
        entry.resume();
        return;
      }
      if (!FILE_TYPES.has(entry.type)) {
        refused ??= new IntegrityError(`The archive holds a ${entry.type} at ${path}; only files and folders are allowed`);
        entry.resume();
        return;
      }
      const hash = createHash('sha256');
      let size = 0;
      pending.push(
        new Promise<void>((resolve, reject) => {
          entry.on('data', (chunk: Buffer) => {
            size += chunk.length;
            hash.update(chunk);
          });
          entry.on('end', () => {
            entries.push({ path, size, sha256: hash.digest('hex') });
            resolve();
          });
          entry.on('error', reject);
        }),
      );
    },
  });
  try {
    await pipeline(archive, parser);
    await Promise.all(pending);
  } catch (error) {
    throw new IntegrityError(`The archive cannot be read: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (refused) throw refused;
  try {
    return buildManifest(entries);
  } catch (error) {
    throw new IntegrityError(`The archive is not acceptable: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * The largest archive (compressed bytes) a submission may be: S3 takes at most 5 GiB in one PUT, and the
 * archive is spooled to a Lambda's ephemeral storage (10 GiB) before it is sent.
 */
export const MAX_ARCHIVE_BYTES = 5 * 1024 ** 3;

export interface ArchiveOptions {
  /** Exclusion patterns (see `excluder`); default DEFAULT_EXCLUDES. */
  readonly exclude?: readonly string[];
  /** Refuse (ValidationError, nothing stored) an archive larger than this. @default MAX_ARCHIVE_BYTES */
  readonly maxBytes?: number;
}

function gib(bytes: number): string {
  return bytes >= 1024 ** 3 ? `${+(bytes / 1024 ** 3).toFixed(1)} GiB` : bytes >= 1024 ** 2 ? `${+(bytes / 1024 ** 2).toFixed(1)} MiB` : `${bytes} bytes`;
}

/**
 * Archive `root` into `destination` (a file, an upload stream) and return the manifest of the bytes
 * written: the tar.gz stream is teed into the destination and into `manifestOfArchive`.
 */
export async function writeArchive(root: string, destination: Writable, options: ArchiveOptions = {}): Promise<Manifest> {
  const excluded = excluder(options.exclude ?? DEFAULT_EXCLUDES);
  const packed = tar.c(
    {
      gzip: true,
      cwd: root,
      portable: true,
      noMtime: true,
      // Only files and folders; `excluded` sees the path relative to root.
      filter: (path: string, stat: Stats | tar.ReadEntry) => {
        const s = stat as Stats;
        if (excluded(path)) return false;
        return s.isFile() || s.isDirectory();
      },
    },
    ['.'],
  ) as unknown as Readable;
  const toManifest = new PassThrough();
  const toDestination = new PassThrough();
  const maxBytes = options.maxBytes ?? MAX_ARCHIVE_BYTES;
  let written = 0;
  let tooLarge: ValidationError | undefined;
  packed.on('data', (chunk: Buffer) => {
    if (tooLarge) return;
    written += chunk.length;
    if (written > maxBytes) {
      // Stop at once: the destination fails (nothing is stored) and the manifest is never finished.
      tooLarge = new ValidationError(
        `Your home is too large to submit: its archive passes ${gib(maxBytes)} (after the exclusions). Move large data or outputs out of the home, or ask for them to be excluded.`,
      );
      packed.pause();
      toManifest.destroy(tooLarge);
      toDestination.destroy(tooLarge);
      return;
    }
    const a = toManifest.write(chunk);
    const b = toDestination.write(chunk);
    if (!a || !b) {
      packed.pause();
      let waiting = (a ? 0 : 1) + (b ? 0 : 1);
      const resume = () => --waiting === 0 && packed.resume();
      if (!a) toManifest.once('drain', resume);
      if (!b) toDestination.once('drain', resume);
    }
  });
  packed.on('end', () => {
    if (tooLarge) return;
    toManifest.end();
    toDestination.end();
  });
  packed.on('error', (error) => {
    toManifest.destroy(error);
    toDestination.destroy(error);
  });
  try {
    const [manifest] = await Promise.all([manifestOfArchive(toManifest), pipeline(toDestination, destination)]);
    return manifest;
  } catch (error) {
    throw tooLarge ?? error;
  }
}

/** Walk `root` and hash its regular files (no archive): the manifest of a folder as it is now. */
export async function manifestOfFolder(root: string): Promise<Manifest> {
  const entries: ManifestEntry[] = [];
  async function walk(dir: string): Promise<void> {
    for (const name of (await readdir(dir)).sort()) {
      const full = join(dir, name);
      const stat = await lstat(full);
      const rel = relative(root, full).split(sep).join('/');
      if (stat.isDirectory()) await walk(full);
      else if (stat.isFile()) {
        const hash = createHash('sha256');
        for await (const chunk of createReadStream(full)) hash.update(chunk as Buffer);
        entries.push({ path: rel, size: stat.size, sha256: hash.digest('hex') });
      } else throw new IntegrityError(`${rel} is neither a file nor a folder`);
    }
  }
  await walk(root);
  return buildManifest(entries);
}

/**
 * Extract `archive` into the empty folder `destination` and check the result is exactly `expected`
 * (IntegrityError naming the differences otherwise). Only files and folders are extracted; tar's own
 * guards keep every path inside `destination`.
 */
export async function extractVerified(archive: Readable, destination: string, expected: Manifest): Promise<void> {
  await mkdir(destination, { recursive: true });
  if ((await readdir(destination)).length > 0) throw new ValidationError(`${destination} is not empty`);
  const unpack = tar.x({
    cwd: destination,
    strict: true,
    preservePaths: false,
    filter: (_path: string, entry: Stats | tar.ReadEntry) => {
      const type = (entry as tar.ReadEntry).type;
      return type === 'Directory' || FILE_TYPES.has(type);
    },
  }) as unknown as Writable;
  try {
    await pipeline(archive, unpack);
  } catch (error) {
    throw new IntegrityError(`The archive cannot be extracted: ${error instanceof Error ? error.message : String(error)}`);
  }
  assertMatches(expected, await manifestOfFolder(destination), 'The extracted archive');
}

/** ArchiveReader over an object store: streams the stored archive (exactly `revision` when given) through `manifestOfArchive`. */
export class StoredArchiveReader implements ArchiveReader {
  constructor(private readonly objects: ObjectStore) {}
  async manifestOf(archiveKey: string, revision?: string): Promise<Manifest> {
    return manifestOfArchive(await this.objects.get(archiveKey, revision));
  }

  async inspect(archiveKey: string, revision?: string): Promise<ArchiveCheck> {
    const hash = createHash('sha256');
    let size = 0;
    const counting = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    const source = await this.objects.get(archiveKey, revision);
    source.on('error', (error) => counting.destroy(error));
    source.pipe(counting);
    const manifest = await manifestOfArchive(counting);
    // Whatever the parser left unread (gzip padding) is hashed too: the digest covers every byte a link serves.
    for await (const _ of counting) void _;
    return { manifest, sha256: hash.digest('hex'), size };
  }
}

/** Collect an in-memory stream (small things only: manifests). */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(
    stream,
    new Writable({
      write(chunk, _enc, done) {
        chunks.push(Buffer.from(chunk));
        done();
      },
    }),
  );
  return Buffer.concat(chunks);
}


/**
 * Archive `root` straight into the object store at `archiveKey` (streamed, never held in memory) and
 * store its manifest as JSON at `manifestKey`. Both keys are new: the store refuses to replace either.
 */
export async function storeArchive(
  objects: ObjectStore,
  root: string,
  keys: { readonly archiveKey: string; readonly manifestKey: string },
  options: ArchiveOptions = {},
): Promise<Manifest> {
  return (await storeArchiveObjects(objects, root, keys, options)).manifest;
}

/** storeArchive, answering also what the store made of the two objects (their revisions, where it keeps versions). */
export async function storeArchiveObjects(
  objects: ObjectStore,
  root: string,
  keys: { readonly archiveKey: string; readonly manifestKey: string },
  options: ArchiveOptions = {},
): Promise<{ readonly manifest: Manifest; readonly archive: StoredObject; readonly manifestObject: StoredObject }> {
  const pass = new PassThrough();
  const stored = objects.putNew(keys.archiveKey, pass).catch((error: unknown) => {
    // A store that gives up early stops the archiving too (nothing would read the rest).
    pass.destroy(error as Error);
    throw error;
  });
  const [archived, put] = await Promise.allSettled([writeArchive(root, pass, options), stored]);
  // The archive's own refusal (too large) is the reason whatever the store then said; otherwise the store's.
  if (archived.status === 'rejected' && (archived.reason instanceof ValidationError || put.status === 'fulfilled')) throw archived.reason;
  if (put.status === 'rejected') throw put.reason;
  const manifest = (archived as PromiseFulfilledResult<Manifest>).value;
  const archive = (put as PromiseFulfilledResult<StoredObject>).value;
  const manifestObject = await objects.putNew(keys.manifestKey, Buffer.from(JSON.stringify(manifest, null, 1)));
  return { manifest, archive, manifestObject };
}

/**
 * A run's collected outputs: everything under `root` (no exclusions) archived to `keys`, with the revisions the
 * store gave both objects (the run records them; every later read uses exactly those). A retried collect finds the
 * objects an earlier attempt stored: it pins their current revisions and accepts them only if, read at those
 * revisions, they are whole and consistent.
 */
export async function storeOutputs(
  objects: ObjectStore,
  archives: ArchiveReader,
  root: string,
  keys: { readonly archiveKey: string; readonly manifestKey: string },
): Promise<CollectedOutputs> {
  const done = { outputsKey: keys.archiveKey, outputsManifestKey: keys.manifestKey };
  const pinned = (archive: StoredObject, manifest: StoredObject) => ({
    ...(archive.revision ? { outputsRevision: archive.revision } : {}),
    ...(manifest.revision ? { outputsManifestRevision: manifest.revision } : {}),
  });
  const stored = await storeOrAdoptArchive(objects, root, keys, { exclude: [] }, 'The outputs collected earlier');
  return { manifest: stored.manifest, ...done, ...pinned(stored.archive, stored.manifestObject) };
}

/**
 * storeArchiveObjects, for a step that may be retried: when the store refuses because an earlier attempt stored
 * the objects already (it never replaces one), those objects are adopted, pinned at the revisions read, and only
 * if the archive read back is whole and matches its manifest (`what` names them in the IntegrityError otherwise).
 * An attempt that died between its two writes left the archive without its manifest: the manifest is then made
 * from the archive's own bytes.
 */
export async function storeOrAdoptArchive(
  objects: ObjectStore,
  root: string,
  keys: { readonly archiveKey: string; readonly manifestKey: string },
  options: ArchiveOptions,
  what: string,
): Promise<{ readonly manifest: Manifest; readonly archive: StoredObject; readonly manifestObject: StoredObject }> {
  try {
    return await storeArchiveObjects(objects, root, keys, options);
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
  }
  const archive = await objects.head(keys.archiveKey);
  const fromArchive = await manifestOfArchive(await objects.get(keys.archiveKey, archive.revision));
  let manifestObject: StoredObject;
  try {
    manifestObject = await objects.head(keys.manifestKey);
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
    manifestObject = await objects.putNew(keys.manifestKey, Buffer.from(JSON.stringify(fromArchive, null, 1)));
    return { manifest: fromArchive, archive, manifestObject };
  }
  const manifest = await readStoredManifest(objects, keys.manifestKey, manifestObject.revision);
  assertMatches(manifest, fromArchive, what);
  return { manifest, archive, manifestObject };
}
