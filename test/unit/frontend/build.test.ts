import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { buildFrontend } from '../../../frontend/build.js';

describe('buildFrontend', () => {
  const dirs: string[] = [];
  after(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('writes an index.html that references the content-hashed bundle it produced', async () => {
    // Prepare
    const outDir = join(await mkdtemp(join(tmpdir(), 'carrel-frontend-')), 'dist', 'frontend');
    dirs.push(outDir);

    // Act
    const started = performance.now();
    const built = await buildFrontend(outDir);
    const took = performance.now() - started;
    const html = await readFile(join(outDir, 'index.html'), 'utf8');

    // Assess
    assert.match(built.script, /^\/assets\/app\.[A-Z0-9]{8}\.js$/);
    assert.match(built.stylesheet ?? '', /^\/assets\/app\.[A-Z0-9]{8}\.css$/);
    assert.ok(html.includes(`<script type="module" src="${built.script}"></script>`));
    assert.ok(html.includes(`<link rel="stylesheet" href="${built.stylesheet}" />`));
    assert.ok(html.includes('<div id="root"></div>'));
    for (const asset of [built.script, `${built.script}.map`, built.stylesheet!]) {
      assert.ok(existsSync(join(outDir, asset)), `${asset} exists`);
    }
    const bundle = await readFile(join(outDir, built.script), 'utf8');
    assert.doesNotMatch(bundle, /(from|import\()\s*["']node:/, 'no Node built-ins in the browser bundle');
    assert.ok(took < 5_000, `built in ${Math.round(took)} ms`);
  });
});
