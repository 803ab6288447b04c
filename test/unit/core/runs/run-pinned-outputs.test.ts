/**
 * The outputs of a run are pinned to the store revisions the collect step wrote: review, release and download read
 * exactly those, and a download link (CheckedLinks, S3 on AWS) reads none of the archive's bytes. Core over the
 * run fakes with a versioned object store (as the S3 bucket is).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NotFoundError } from '../../../../lambdas/core/errors.js';
import {
  advanceRun,
  buildManifest,
  checkDisclosure,
  collectOutputs,
  decide,
  downloadOutputsLink,
  IntegrityError,
  releaseRun,
  requestReview,
  type CheckedLinks,
  type RunApiDeps,
} from '../../../../lambdas/core/runs/index.js';
import { FakeCatalog, users } from '../../../support/fakes.js';
import { file, KEY, makeRunDeps, submitted, type FakeRunDeps } from '../../../support/run-fakes.js';

async function approvedOutputs(f: FakeRunDeps) {
  const run = await submitted(f);
  await requestReview(f, KEY, 'code-review', 'token-code');
  await decide(f, users.rita, KEY, { step: 'code-review', verdict: 'approve', comment: '', manifestDigest: run.manifestDigest! });
  await advanceRun(f, KEY, 'building');
  await advanceRun(f, KEY, 'running');
  await collectOutputs(f, KEY, 0);
  await checkDisclosure(f, KEY);
  const waiting = await requestReview(f, KEY, 'output-review', 'token-output');
  await decide(f, users.rita, KEY, { step: 'output-review', verdict: 'approve', comment: '', manifestDigest: waiting.outputsDigest! });
  return waiting;
}

/** CheckedLinks over the fake store: one metadata lookup of the pinned revision (as HeadObject), never a read. */
function pinnedLinks(f: FakeRunDeps) {
  const asked: { key: string; revision: string; size: number }[] = [];
  const links: CheckedLinks = {
    pinnedLink: async (key, pinned, expiresAt) => {
      asked.push({ key, ...pinned });
      let head;
      try {
        head = await f.objects.head(key, pinned.revision);
      } catch (error) {
        if (error instanceof NotFoundError) throw new IntegrityError(`version ${pinned.revision} is gone: nothing was linked`);
        throw error;
      }
      if (head.size !== pinned.size) throw new IntegrityError('another size: nothing was linked');
      return `https://objects.test/${key}?versionId=${pinned.revision}&expires=${expiresAt.getTime()}`;
    },
  };
  return { asked, links };
}

function apiDeps(f: FakeRunDeps, checkedLinks: CheckedLinks): RunApiDeps {
  const never = () => {
    throw new Error('the linked download reads no archive');
  };
  return {
    ...f,
    catalog: new FakeCatalog(),
    files: { file: never, load: never },
    diff: () => '',
    limits: { fileViewMaxBytes: 1024, downloadMaxBytes: 1024, smallCountThreshold: 10 },
    checkedLinks,
  };
}

describe('outputs pinned at collect', () => {
  it('collect records the store revisions of the outputs archive and its manifest', async () => {
    // Prepare
    const f = makeRunDeps({ versioned: true });
    // Act
    const run = await approvedOutputs(f);
    // Assess
    const stored = f.runs.peek(KEY).objects;
    assert.match(stored.outputsRevision ?? '', /^v\d+$/);
    assert.match(stored.outputsManifestRevision ?? '', /^v\d+$/);
    assert.notEqual(stored.outputsRevision, stored.outputsManifestRevision);
    assert.equal(run.objects.outputsRevision, stored.outputsRevision);
  });

  it('a store without versions records none (local folders)', async () => {
    // Act
    const f = makeRunDeps();
    await approvedOutputs(f);
    // Assess
    const stored = f.runs.peek(KEY).objects;
    assert.equal(stored.outputsRevision, undefined);
    assert.equal(stored.outputsManifestRevision, undefined);
  });

  it('release re-verifies the pinned revision, not a later version of the key, and records its sha256 and size', async () => {
    // Prepare: after review, another version of the outputs key appears, holding other outputs
    const f = makeRunDeps({ versioned: true });
    const run = await approvedOutputs(f);
    const { outputsKey, outputsManifestKey, outputsRevision, outputsManifestRevision } = run.objects;
    const other = buildManifest([file('result.csv', 'n\n3\n')]);
    const later = f.objects.store(outputsKey!, Buffer.from('other archive'));
    f.objects.store(outputsManifestKey!, Buffer.from(JSON.stringify(other)));
    f.archives.set(outputsKey!, later.revision, other);
    const checked = await f.archives.inspect(outputsKey!, outputsRevision);
    f.archives.reads.length = 0;
    f.objects.reads.length = 0;
    // Act
    const released = await releaseRun(f, KEY);
    // Assess
    assert.equal(released.state, 'released');
    assert.deepEqual(f.archives.reads, [{ key: outputsKey, revision: outputsRevision }]);
    assert.deepEqual(f.objects.reads.map((r) => [r.key, r.revision]), [[outputsManifestKey, outputsManifestRevision]]);
    assert.deepEqual(released.releasedArchive, { sha256: checked.sha256, size: checked.size });
    assert.deepEqual(f.runs.peek(KEY).releasedArchive, released.releasedArchive);
  });

  it('release pins the version it checks when the outputs were collected before runs pinned them', async () => {
    // Prepare: a run recorded without revisions (collected by an earlier version of carrel)
    const f = makeRunDeps({ versioned: true });
    const run = await approvedOutputs(f);
    const { outputsRevision: current, outputsManifestRevision: _m, ...unpinned } = run.objects;
    const stored = f.runs.peek(KEY);
    await f.runs.put({ ...stored, objects: unpinned, version: stored.version + 1 }, stored.version);
    f.archives.reads.length = 0;
    // Act
    const released = await releaseRun(f, KEY);
    // Assess
    assert.equal(released.objects.outputsRevision, current);
    assert.deepEqual(f.archives.reads, [{ key: run.objects.outputsKey, revision: current }]);
    assert.ok(released.releasedArchive);
  });

  it('release refuses when the pinned revision itself does not hold what reviewers approved', async () => {
    // Prepare
    const f = makeRunDeps({ versioned: true });
    const run = await approvedOutputs(f);
    f.archives.set(`${run.objects.outputsKey}#${run.objects.outputsRevision}`, undefined, buildManifest([file('result.csv', 'n\n3\n')]));
    // Act / Assess
    await assert.rejects(releaseRun(f, KEY), IntegrityError);
    assert.equal(f.runs.peek(KEY).state, 'output-review');
    assert.equal(f.runs.peek(KEY).releasedArchive, undefined);
  });
});

describe('download link of pinned outputs', () => {
  async function releasedWithLink(f: FakeRunDeps) {
    await approvedOutputs(f);
    const released = await releaseRun(f, KEY);
    const token = f.notifier.sent.at(-1)!.link!;
    f.archives.reads.length = 0;
    f.objects.reads.length = 0;
    return { released, token };
  }

  it('links exactly the pinned revision with the sha256 recorded at release, reading no byte of the archive, and audits it', async () => {
    // Prepare
    const f = makeRunDeps({ versioned: true });
    const { released, token } = await releasedWithLink(f);
    const { asked, links } = pinnedLinks(f);
    // Act
    const link = await downloadOutputsLink(apiDeps(f, links), users.alice, KEY, token);
    // Assess
    assert.deepEqual(asked, [{ key: released.objects.outputsKey, revision: released.objects.outputsRevision, size: released.releasedArchive!.size }]);
    assert.equal(link.sha256, released.releasedArchive!.sha256);
    assert.match(link.url, new RegExp(`versionId=${released.objects.outputsRevision}&`));
    assert.equal(Date.parse(link.expiresAt) - f.clock.now().getTime(), 5 * 60 * 1000);
    assert.deepEqual(f.objects.reads, [], 'no object read');
    assert.deepEqual(f.archives.reads, [], 'no archive read');
    assert.deepEqual(f.audit.entries.filter((e) => e.action === 'downloaded').map((e) => [e.actor, e.manifestDigest]), [['alice', released.outputsDigest]]);
  });

  it('a later PUT to the outputs key makes a version that is never linked', async () => {
    // Prepare
    const f = makeRunDeps({ versioned: true });
    const { released, token } = await releasedWithLink(f);
    const later = f.objects.store(released.objects.outputsKey!, Buffer.from('replaced after release'));
    const { links } = pinnedLinks(f);
    // Act
    const link = await downloadOutputsLink(apiDeps(f, links), users.alice, KEY, token);
    // Assess
    assert.notEqual(later.revision, released.objects.outputsRevision);
    assert.ok(!link.url.includes(`versionId=${later.revision}`));
    assert.ok(link.url.includes(`versionId=${released.objects.outputsRevision}`));
  });

  it('answers IntegrityError and audits nothing when the pinned revision is gone', async () => {
    // Prepare
    const f = makeRunDeps({ versioned: true });
    const { released, token } = await releasedWithLink(f);
    f.objects.revisions.delete(`${released.objects.outputsKey}#${released.objects.outputsRevision}`);
    const { links } = pinnedLinks(f);
    // Act / Assess
    await assert.rejects(downloadOutputsLink(apiDeps(f, links), users.alice, KEY, token), (e: unknown) => e instanceof IntegrityError && /gone/.test(e.message));
    assert.equal(f.audit.entries.filter((e) => e.action === 'downloaded').length, 0);
  });

  it('links nothing for a released run whose outputs were never pinned', async () => {
    // Prepare: a store without versions (nothing to link a revision of)
    const f = makeRunDeps();
    const { token } = await releasedWithLink(f);
    const { asked, links } = pinnedLinks(f);
    // Act / Assess
    await assert.rejects(downloadOutputsLink(apiDeps(f, links), users.alice, KEY, token), (e: unknown) => e instanceof IntegrityError && /not pinned/.test(e.message));
    assert.equal(asked.length, 0);
  });

  it('checks the token and membership before asking the store anything', async () => {
    // Prepare
    const f = makeRunDeps({ versioned: true });
    const { token } = await releasedWithLink(f);
    const { asked, links } = pinnedLinks(f);
    // Act / Assess
    await assert.rejects(downloadOutputsLink(apiDeps(f, links), users.alice, KEY, token.replace(KEY.runId, `${KEY.runId}x`)));
    await assert.rejects(downloadOutputsLink(apiDeps(f, links), users.pat, KEY, token));
    assert.equal(asked.length, 0);
  });
});
