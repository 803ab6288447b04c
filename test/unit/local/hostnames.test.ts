import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LocalHostnames } from '../../../local/hostnames.js';

describe('local hostnames', () => {
  it('never loses an assignment made while another first call is still reading the file', async () => {
    for (let round = 0; round < 30; round++) {
      // Prepare: a persisted map and a fresh registry (as after a restart)
      const dir = await mkdtemp(join(tmpdir(), 'carrel-dns-'));
      await writeFile(join(dir, 'dns.json'), JSON.stringify({ 'ws-old.app.localhost': '127.0.0.1:1' }));
      const hostnames = new LocalHostnames(dir, 'app.localhost');

      // Act: a listing and an assignment race on the first load
      await Promise.all([hostnames.list(), hostnames.assign('ws-new.app.localhost', '127.0.0.1:2')]);

      // Assess: memory and file both hold both records
      assert.equal(await hostnames.resolve('ws-new.app.localhost'), '127.0.0.1:2', `round ${round}`);
      assert.equal(await hostnames.resolve('ws-old.app.localhost'), '127.0.0.1:1');
      assert.deepEqual(Object.keys(JSON.parse(await readFile(join(dir, 'dns.json'), 'utf8'))).sort(), ['ws-new.app.localhost', 'ws-old.app.localhost']);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
