import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ValidationError } from '../../../../lambdas/core/errors.js';
import { assertMatches, buildManifest, IntegrityError, manifestDifferences, parseManifest } from '../../../../lambdas/core/runs/index.js';
import { file } from '../../../support/run-fakes.js';

describe('manifest (pure)', () => {
  it('sorts by path whatever the input order, so the digest depends only on the files', () => {
    // Prepare
    const a = [file('b.py', 'b'), file('a/z.csv', 'z'), file('a/b.txt', 't')];
    // Act
    const m1 = buildManifest(a);
    const m2 = buildManifest([...a].reverse());
    // Assess
    assert.deepEqual(m1.files.map((f) => f.path), ['a/b.txt', 'a/z.csv', 'b.py']);
    assert.equal(m1.digest, m2.digest);
    assert.equal(m1.totalBytes, 3);
    assert.match(m1.digest, /^[0-9a-f]{64}$/);
  });

  it('any change of content, size or path changes the digest', () => {
    const base = buildManifest([file('a.py', 'x')]).digest;
    assert.notEqual(buildManifest([file('a.py', 'y')]).digest, base);
    assert.notEqual(buildManifest([file('b.py', 'x')]).digest, base);
    assert.notEqual(buildManifest([{ ...file('a.py', 'x'), size: 2 }]).digest, base);
  });

  it('refuses absolute, dotted and duplicate paths and bad hashes', () => {
    for (const path of ['/etc/passwd', '../x', 'a/../b', 'a//b', './a', '']) {
      assert.throws(() => buildManifest([{ ...file('x', 'x'), path }]), ValidationError, path);
    }
    assert.throws(() => buildManifest([file('a', '1'), file('a', '2')]), /Duplicate/);
    assert.throws(() => buildManifest([{ path: 'a', size: 1, sha256: 'nothex' }]), ValidationError);
  });

  it('parseManifest refuses one whose digest does not match its files', () => {
    // Prepare
    const m = buildManifest([file('a.py', 'x')]);
    const altered = { ...m, files: [file('a.py', 'y')] };
    // Act / Assess
    assert.deepEqual(parseManifest(JSON.parse(JSON.stringify(m))), m);
    assert.throws(() => parseManifest(altered), IntegrityError);
    assert.throws(() => parseManifest({ hello: 1 }), IntegrityError);
  });

  it('names missing, changed and unexpected files', () => {
    // Prepare
    const expected = buildManifest([file('a', '1'), file('b', '2')]);
    const actual = buildManifest([file('a', '9'), file('c', '3')]);
    // Act
    const diffs = manifestDifferences(expected, actual);
    // Assess
    assert.equal(diffs.length, 3);
    assert.match(diffs[0]!, /^changed: a/);
    assert.equal(diffs[1], 'missing: b');
    assert.equal(diffs[2], 'unexpected: c');
    assert.throws(() => assertMatches(expected, actual, 'The archive'), (e: unknown) => e instanceof IntegrityError && e.differences.length === 3 && /^The archive does not match/.test(e.message));
    assert.doesNotThrow(() => assertMatches(expected, buildManifest([file('b', '2'), file('a', '1')]), 'x'));
  });
});
