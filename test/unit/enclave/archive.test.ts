/** The archive adapter on real files in a temporary folder: tar + gzip, exclusions, manifest, tampering. */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import * as tar from 'tar';
import { excluder, extractVerified, MAX_ARCHIVE_BYTES, manifestOfArchive, manifestOfFolder, storeArchive, writeArchive } from '../../../lambdas/adapters/archive.js';
import { NotFoundError, ValidationError } from '../../../lambdas/core/errors.js';
import { FolderObjectStore } from '../../../local/enclave/folder-object-store.js';
import { IntegrityError } from '../../../lambdas/core/runs/manifest.js';

let dir: string;
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const big = randomBytes(5 * 1024 * 1024);

async function put(root: string, files: Record<string, string | Buffer>) {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), content);
  }
}

async function home(name: string) {
  const root = join(dir, name);
  await put(root, {
    'analysis.py': 'import pandas\n',
    'lib/helpers.R': 'f <- function() 1\n',
    'empty.txt': '',
    'model.bin': big,
    '.git/HEAD': 'ref: refs/heads/main\n',
    'lib/__pycache__/helpers.cpython-311.pyc': 'x',
    'nb/.ipynb_checkpoints/a-checkpoint.ipynb': '{}',
    'data/synthetic/people.csv': 'id\n1\n',
    'data/lookup.csv': 'code\nA\n',
    'old.pyc': 'x',
  });
  await symlink('/etc/passwd', join(root, 'passwd-link'));
  return root;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'carrel-archive-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('archive adapter', () => {
  it('archives a home without the excluded patterns and links, with a manifest of the bytes written', async () => {
    // Prepare
    const root = await home('home-1');
    const file = join(dir, 'home-1.tar.gz');
    // Act
    const manifest = await writeArchive(root, createWriteStream(file));
    // Assess
    assert.deepEqual(
      manifest.files.map((f) => f.path),
      ['analysis.py', 'data/lookup.csv', 'empty.txt', 'lib/helpers.R', 'model.bin'],
    );
    const model = manifest.files.find((f) => f.path === 'model.bin')!;
    assert.deepEqual([model.size, model.sha256], [big.length, sha(big)]);
    assert.equal(manifest.files.find((f) => f.path === 'empty.txt')!.sha256, sha(''));
    const reread = await manifestOfArchive(createReadStream(file));
    assert.equal(reread.digest, manifest.digest);
    assert.equal((await readFile(file)).subarray(0, 2).toString('hex'), '1f8b', 'gzip magic');
  });

  it('the same home archives to the same manifest digest twice', async () => {
    const root = await home('home-2');
    const a = await writeArchive(root, createWriteStream(join(dir, 'a.tar.gz')));
    const b = await writeArchive(root, createWriteStream(join(dir, 'b.tar.gz')));
    assert.equal(a.digest, b.digest);
  });

  it('extracts a verified archive to exactly its files', async () => {
    // Prepare
    const root = await home('home-3');
    const file = join(dir, 'home-3.tar.gz');
    const manifest = await writeArchive(root, createWriteStream(file));
    const out = join(dir, 'out-3');
    // Act
    await extractVerified(createReadStream(file), out, manifest);
    // Assess
    assert.equal(await readFile(join(out, 'analysis.py'), 'utf8'), 'import pandas\n');
    assert.equal((await manifestOfFolder(out)).digest, manifest.digest);
  });

  it('refuses an archive whose content differs from the manifest (tampered), naming the file', async () => {
    // Prepare: archive, then build a second archive of the same home with one file changed
    const root = await home('home-4');
    const manifest = await writeArchive(root, createWriteStream(join(dir, 'home-4.tar.gz')));
    await writeFile(join(root, 'analysis.py'), 'import os; os.system("curl evil")\n');
    const tampered = join(dir, 'home-4-tampered.tar.gz');
    await writeArchive(root, createWriteStream(tampered));
    // Act / Assess
    await assert.rejects(
      extractVerified(createReadStream(tampered), join(dir, 'out-4'), manifest),
      (e: unknown) => e instanceof IntegrityError && /does not match its manifest: changed: analysis\.py/.test(e.message),
    );
  });

  it('refuses corrupted bytes and an archive holding a symlink', async () => {
    // Prepare
    const root = await home('home-5');
    const file = join(dir, 'home-5.tar.gz');
    await writeArchive(root, createWriteStream(file));
    const bytes = await readFile(file);
    const corrupt = Buffer.from(bytes);
    corrupt[Math.floor(corrupt.length / 2)]! ^= 0xff;
    const withLink = join(dir, 'link.tar.gz');
    await tar.c({ gzip: true, cwd: root, file: withLink }, ['analysis.py', 'passwd-link']);
    // Act / Assess
    await assert.rejects(manifestOfArchive(Readable.from([corrupt])), IntegrityError);
    await assert.rejects(manifestOfArchive(createReadStream(withLink)), (e: unknown) => e instanceof IntegrityError && /SymbolicLink at passwd-link/.test(e.message));
  });
});

describe('archive size limit', () => {
  it('refuses a home whose archive passes the limit with a message for the researcher, and stores nothing', async () => {
    // Prepare: model.bin is 5 MiB of random bytes (incompressible)
    const root = await home('too-large');
    const objects = new FolderObjectStore(join(dir, 'objects-too-large'), 'http://localhost/objects');
    const keys = { archiveKey: 'runs/demo/r1/home.tar.gz', manifestKey: 'runs/demo/r1/manifest.json' };
    // Act / Assess
    await assert.rejects(
      storeArchive(objects, root, keys, { maxBytes: 1024 * 1024 }),
      (e: unknown) => e instanceof ValidationError && /Your home is too large to submit: its archive passes 1 MiB/.test(e.message),
    );
    await assert.rejects(objects.get(keys.archiveKey), NotFoundError);
    await assert.rejects(objects.get(keys.manifestKey), NotFoundError);
    // ... and the same home under the default limit (5 GiB) is stored
    const manifest = await storeArchive(objects, root, keys);
    assert.equal(manifest.files.length, 5);
    assert.equal(MAX_ARCHIVE_BYTES, 5 * 1024 ** 3);
  });
});

describe('exclusion patterns', () => {
  it('match names at any depth, globs within a name, and rooted paths with everything under them', () => {
    const ex = excluder(['.git', '*.pyc', 'data/synthetic']);
    for (const p of ['.git', './.git/HEAD', 'a/.git/x', 'x.pyc', 'a/b/c.pyc', 'data/synthetic', 'data/synthetic/a.csv']) assert.equal(ex(p), true, p);
    for (const p of ['.', 'git', 'a.py', 'data/synthetic2/a', 'x/data/synthetic/a', 'pyc']) assert.equal(ex(p), false, p);
    assert.throws(() => excluder(['../x']), /may not contain/);
  });
});
