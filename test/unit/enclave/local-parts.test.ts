/** The local enclave's parts: disclosure rule, object store immutability and links, task tokens, sandbox arguments. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { csvCells, SmallCountChecker, smallCounts } from '../../../lambdas/adapters/disclosure.js';
import type { Run } from '../../../lambdas/core/runs/run.js';
import { FakeObjectStore } from '../../support/run-fakes.js';
import { ConflictError, NotFoundError } from '../../../lambdas/core/errors.js';
import { FolderObjectStore } from '../../../local/enclave/folder-object-store.js';
import { bwrapArgs } from '../../../local/enclave/sandbox.js';
import { LocalTaskTokens, TaskFailure } from '../../../local/enclave/task-tokens.js';
import { readAll, storeArchiveObjects } from '../../../lambdas/adapters/archive.js';
import { existsSync } from 'node:fs';
import { HomesWithDemoData, seedDemoDatasets } from '../../../local/enclave/demo-data.js';
import { LocalHomes } from '../../../local/homes.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'carrel-local-parts-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('small-count disclosure rule', () => {
  it('flags counts from 1 to threshold-1 with row, column and header name; not zero, not larger, not text', () => {
    const text = 'region,count,share\n"North, upper",3,0.5\nSouth,0,12\nEast,10,9\n';
    assert.deepEqual(smallCounts('t.csv', text, 10), [
      { path: 't.csv', where: 'row 2, column 2 (count)', rule: 'small-count', detail: '3 is below 10' },
      { path: 't.csv', where: 'row 4, column 3 (share)', rule: 'small-count', detail: '9 is below 10' },
    ]);
  });

  it('reads quoted cells', () => {
    assert.deepEqual(csvCells('a,"b, c","d ""e"""'), ['a', 'b, c', 'd "e"']);
  });
  it('checks the outputs revision the run pinned, not a later version of the key', async () => {
    // Prepare: the collected outputs (v1), then another version of the same key without the small count
    const objects = new FakeObjectStore({ versioned: true });
    const folder = join(dir, 'disclosure-out');
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, 'table.csv'), 'group,count\nrare,3\n');
    const keys = { archiveKey: 'runs/a/r/outputs.tar.gz', manifestKey: 'runs/a/r/outputs.manifest.json' };
    const pinned = await storeArchiveObjects(objects, folder, keys, { exclude: [] });
    await writeFile(join(folder, 'table.csv'), 'group,count\nrare,30\n');
    objects.objects.clear();
    await storeArchiveObjects(objects, folder, keys, { exclude: [] });
    const run = { objects: { ...keys, outputsKey: keys.archiveKey, outputsRevision: pinned.archive.revision } } as unknown as Run;
    // Act
    const findings = await new SmallCountChecker(objects).check(run);
    // Assess
    assert.deepEqual(findings.map((f) => f.detail), ['3 is below 10']);
    assert.deepEqual(objects.reads.map((r) => [r.key, r.revision]), [[keys.archiveKey, pinned.archive.revision]]);
  });
});

describe('folder object store', () => {
  it('stores new objects and refuses to replace one', async () => {
    // Prepare
    const store = new FolderObjectStore(join(dir, 'objects'), 'http://desk/api/objects');
    await store.putNew('runs/a/b.txt', Buffer.from('first'));
    // Act / Assess
    await assert.rejects(store.putNew('runs/a/b.txt', Buffer.from('second')), ConflictError);
    assert.equal((await readAll(await store.get('runs/a/b.txt'))).toString(), 'first');
    await assert.rejects(store.get('runs/none'), NotFoundError);
    await assert.rejects(store.putNew('../escape', Buffer.from('x')), /relative path/);
  });

  it('keeps no versions: writes answer no revision, head gives the size, and a revision asked for is not there', async () => {
    // Prepare
    const store = new FolderObjectStore(join(dir, 'objects3'), 'http://desk/api/objects');
    // Act
    const stored = await store.putNew('runs/a/out.tar.gz', Buffer.from('12345'));
    // Assess
    assert.deepEqual(stored, {});
    assert.deepEqual(await store.head('runs/a/out.tar.gz'), { size: 5 });
    await assert.rejects(store.head('runs/a/none'), NotFoundError);
    await assert.rejects(store.get('runs/a/out.tar.gz', 'v1'), NotFoundError);
    await assert.rejects(store.head('runs/a/out.tar.gz', 'v1'), NotFoundError);
  });

  it('links work until they expire and only with their signature', async () => {
    // Prepare
    const store = new FolderObjectStore(join(dir, 'objects2'), 'http://desk/api/objects');
    const expires = new Date('2030-01-01T10:00:00.000Z');
    // Act
    const link = await store.link('runs/a/out.tar.gz', expires);
    // Assess
    assert.equal(store.verifyLink(link, new Date('2030-01-01T09:59:59.000Z')), 'runs/a/out.tar.gz');
    assert.equal(store.verifyLink(link, expires), undefined);
    assert.equal(store.verifyLink(link.replace('out.tar.gz', 'home.tar.gz'), new Date('2030-01-01T09:00:00.000Z')), undefined);
    assert.equal(store.verifyLink(link.replace(/expires=\d+/, `expires=${expires.getTime() + 3_600_000}`), new Date('2030-01-01T10:30:00.000Z')), undefined);
  });
});

describe('local task tokens', () => {
  it('a waiting step ends with the output of succeed, or the error of fail; an unknown token is refused', async () => {
    // Prepare
    const tokens = new LocalTaskTokens();
    const a = tokens.mint();
    const b = tokens.mint();
    const waitingA = tokens.wait(a);
    const waitingB = tokens.wait(b);
    // Act
    await tokens.succeed(a, { outcome: 'approved' });
    await tokens.fail(b, 'ReviewWithdrawn', 'the reviewer withdrew');
    // Assess
    assert.deepEqual(await waitingA, { outcome: 'approved' });
    await assert.rejects(waitingB, (e: unknown) => e instanceof TaskFailure && e.name === 'ReviewWithdrawn');
    await assert.rejects(tokens.succeed(a, {}), ConflictError);
    assert.notEqual(a, b);
  });

  it('abortAll ends every waiting step (the runtime stopping), after which their tokens are unknown', async () => {
    // Prepare
    const tokens = new LocalTaskTokens();
    const a = tokens.mint();
    const waiting = tokens.wait(a);
    // Act
    tokens.abortAll();
    // Assess
    await assert.rejects(waiting, (e: unknown) => e instanceof TaskFailure && e.name === 'States.Runtime');
    assert.equal(tokens.pending, 0);
    await assert.rejects(tokens.succeed(a, {}), ConflictError);
  });
});

describe('bubblewrap arguments', () => {
  it('unshare everything (network included), clear the environment, bind data read-only and outputs as the only writable mount', () => {
    // Act
    const args = bwrapArgs({ codeDir: '/w/code', datasetDir: '/real', outputsDir: '/w/out', logFile: '/w/log' });
    // Assess
    assert.ok(args.includes('--unshare-all'));
    assert.ok(args.includes('--clearenv'));
    assert.equal(args.includes('--share-net'), false);
    const binds = args.flatMap((a, i) => (a === '--bind' ? [`${args[i + 1]}:${args[i + 2]}`] : []));
    assert.deepEqual(binds, ['/w/out:/outputs']);
    const ro = args.flatMap((a, i) => (a === '--ro-bind' ? [`${args[i + 1]}:${args[i + 2]}`] : []));
    assert.ok(ro.includes('/real:/data') && ro.includes('/w/code:/code'));
    assert.deepEqual(args.slice(-3), ['--', 'sh', 'run.sh']);
  });
});

describe('local homes with the demo data', () => {
  it('give a demo analysis home its synthetic data and the starter project; another analysis home the starter project only', async () => {
    // Prepare
    const datasets = await seedDemoDatasets(join(dir, 'datasets'), ['demo']);
    const homes = new HomesWithDemoData(new LocalHomes(join(dir, 'homes')), datasets);
    // Act
    await homes.ensure({ analysisId: 'demo', userId: 'alice' });
    await homes.ensure({ analysisId: 'bench', userId: 'bench0' });
    // Assess
    assert.equal(existsSync(join(homes.pathOf({ analysisId: 'demo', userId: 'alice' }), 'data', 'synthetic', 'people.csv')), true);
    const other = homes.pathOf({ analysisId: 'bench', userId: 'bench0' });
    assert.equal(existsSync(join(other, 'data', 'synthetic')), false);
    assert.equal(existsSync(join(other, 'run.sh')), true);
  });
});
