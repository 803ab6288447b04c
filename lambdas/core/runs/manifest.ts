/**
 * The manifest of a set of files: path, size and sha256 per file, sorted by path, with one digest over
 * all of it. A submission's manifest is what reviewers approve and what every later step checks the
 * archive against; an outputs manifest is what is released. Pure: callers hash the files.
 */
import { createHash } from 'node:crypto';
import { CarrelError, ValidationError } from '../errors.js';

export interface ManifestEntry {
  /** Relative POSIX path inside the archive (no leading `/`, no `..`). */
  readonly path: string;
  readonly size: number;
  /** Lowercase hex SHA-256 of the file's bytes. */
  readonly sha256: string;
}

export interface Manifest {
  readonly version: 1;
  /** Sorted by path (code-unit order, so every platform sorts alike). */
  readonly files: readonly ManifestEntry[];
  /** SHA-256 over the canonical lines `<sha256> <size> <path>\n` of the sorted files. */
  readonly digest: string;
  readonly totalBytes: number;
}

/** An archive or its files do not match the manifest they were submitted or collected with. */
export class IntegrityError extends CarrelError {
  constructor(message: string, readonly differences: readonly string[] = []) {
    super(message);
  }
}

const SHA256 = /^[0-9a-f]{64}$/;

/** Throws ValidationError unless `path` is a plain relative POSIX path. */
export function assertRelativePath(path: string): void {
  const parts = path.split('/');
  if (!path || path.startsWith('/') || path.includes('\\') || path.includes('\0') || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new ValidationError(`Not a plain relative path: ${JSON.stringify(path)}`);
  }
}

function byPath(a: ManifestEntry, b: ManifestEntry): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

export function manifestDigest(files: readonly ManifestEntry[]): string {
  const hash = createHash('sha256');
  // Paths cannot hold a newline unescaped here: JSON-encode them so no two lists share a canonical form.
  for (const f of files) hash.update(`${f.sha256} ${f.size} ${JSON.stringify(f.path)}\n`);
  return hash.digest('hex');
}

/** Build the manifest of `entries` (any order). Refuses duplicate paths, bad paths, sizes or hashes. */
export function buildManifest(entries: Iterable<ManifestEntry>): Manifest {
  const files = [...entries].map((e) => ({ path: e.path, size: e.size, sha256: e.sha256 })).sort(byPath);
  for (let i = 0; i < files.length; i++) {
    const f = files[i]!;
    assertRelativePath(f.path);
    if (!Number.isSafeInteger(f.size) || f.size < 0) throw new ValidationError(`Bad size for ${f.path}: ${f.size}`);
    if (!SHA256.test(f.sha256)) throw new ValidationError(`Bad sha256 for ${f.path}`);
    if (i > 0 && files[i - 1]!.path === f.path) throw new ValidationError(`Duplicate path in manifest: ${f.path}`);
  }
  return { version: 1, files, digest: manifestDigest(files), totalBytes: files.reduce((n, f) => n + f.size, 0) };
}

/** A manifest read back from storage: recomputes the digest and refuses one that does not match. */
export function parseManifest(json: unknown): Manifest {
  const m = json as Partial<Manifest> | null;
  if (!m || m.version !== 1 || !Array.isArray(m.files) || typeof m.digest !== 'string') {
    throw new IntegrityError('Not a carrel manifest (version 1 with files and digest)');
  }
  const rebuilt = buildManifest(m.files);
  if (rebuilt.digest !== m.digest) {
    throw new IntegrityError(`The manifest was altered: its digest ${m.digest} does not match its files (${rebuilt.digest})`);
  }
  return rebuilt;
}

/** Human-readable differences between what was expected and what is there (empty: identical). */
export function manifestDifferences(expected: Manifest, actual: Manifest): string[] {
  const out: string[] = [];
  const have = new Map(actual.files.map((f) => [f.path, f]));
  for (const f of expected.files) {
    const a = have.get(f.path);
    if (!a) out.push(`missing: ${f.path}`);
    else if (a.sha256 !== f.sha256 || a.size !== f.size) out.push(`changed: ${f.path} (expected ${f.size} bytes sha256 ${f.sha256.slice(0, 12)}…, found ${a.size} bytes sha256 ${a.sha256.slice(0, 12)}…)`);
    have.delete(f.path);
  }
  for (const path of have.keys()) out.push(`unexpected: ${path}`);
  return out;
}

/** Throws IntegrityError naming every difference unless `actual` is exactly `expected`. */
export function assertMatches(expected: Manifest, actual: Manifest, what: string): void {
  const differences = manifestDifferences(expected, actual);
  if (differences.length > 0 || expected.digest !== actual.digest) {
    const shown = differences.slice(0, 5).join('; ');
    const more = differences.length > 5 ? ` and ${differences.length - 5} more` : '';
    throw new IntegrityError(`${what} does not match its manifest: ${shown || 'digest differs'}${more}`, differences);
  }
}
