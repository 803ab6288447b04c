import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffLines, diffStat } from '../../../frontend/src/logic/diff.js';
import { commentError, decisionDigest, detailPollDelay, outputFindings } from '../../../frontend/src/logic/review.js';
import { parseRoute, reviewRunPath, runsPath } from '../../../frontend/src/logic/routes.js';
import { createRunsApi, runFilePath } from '../../../frontend/src/api.js';

const finding = { path: 'out/table.csv', where: 'row 2, column 2', rule: 'small-count', detail: '3 is below 10' };
const detail = {
  run: { manifestDigest: 'sha256:code', outputsDigest: 'sha256:out' },
  manifest: { digest: 'sha256:code', totalBytes: 1, files: [] },
  outputs: { digest: 'sha256:out', totalBytes: 1, files: [{ path: 'out/table.csv', size: 1, sha256: 'x' }] },
  findings: [finding, { ...finding, path: 'other.csv' }],
} as any;

describe('review console logic', () => {
  it('requires a comment to reject, not to approve', () => {
    assert.match(commentError('reject', '  ') ?? '', /Say why you reject/);
    assert.equal(commentError('reject', 'counts too small'), undefined);
    assert.equal(commentError('approve', ''), undefined);
  });

  it("binds the decision to the code's digest at code review and the outputs' at output review", () => {
    assert.equal(decisionDigest({ ...detail, step: 'code-review' }), 'sha256:code');
    assert.equal(decisionDigest({ ...detail, step: 'output-review' }), 'sha256:out');
  });

  it("takes a file's findings from its own list, else from the run's by path", () => {
    assert.deepEqual(outputFindings(detail, 'out/table.csv'), [finding]);
    const own = { ...detail, outputs: { ...detail.outputs, files: [{ ...detail.outputs.files[0], findings: [] }] } };
    assert.deepEqual(outputFindings(own, 'out/table.csv'), []);
  });

  it("re-reads the run while others or the system move it, less often while it is the reader's turn", () => {
    // Prepare
    const at = (state: string, mayDecide: boolean) => ({ run: { state } as any, mayDecide });

    // Assess
    assert.equal(detailPollDelay(at('code-review', false)), 3_000);
    assert.equal(detailPollDelay(at('running', false)), 3_000);
    assert.equal(detailPollDelay(at('code-review', true)), 10_000);
    assert.equal(detailPollDelay(at('released', false)), null);
    assert.equal(detailPollDelay(at('running', false), 2), 12_000);
    assert.equal(detailPollDelay(undefined), null);
  });

  it('colours a unified diff by line and counts it', () => {
    // Act
    // (jsdiff's createTwoFilesPatch, as the server makes it: a rule line, then the headers)
    const lines = diffLines('===================================================================\n--- a/run.sh\tlast approved\n+++ b/run.sh\tthis run\n@@ -1,2 +1,2 @@\n python3 main.py\n-echo old\n+echo new\n+echo more\n');

    // Assess
    assert.deepEqual(lines.map((l) => l.kind), ['meta', 'meta', 'meta', 'hunk', 'context', 'removed', 'added', 'added']);
    assert.deepEqual(diffStat(lines), { added: 2, removed: 1 });
  });

  it('routes the review console, a run and the runs page', () => {
    assert.deepEqual(parseRoute('/review'), { page: 'review' });
    // No dot in the last segment (the static site and CloudFront serve such paths as files)
    assert.equal(reviewRunPath('demo.r20261123t180000z-k3j9x0a1b2'), '/review/demo/r20261123t180000z-k3j9x0a1b2');
    assert.deepEqual(parseRoute('/review/demo/r20261123t180000z-k3j9x0a1b2'), { page: 'review-run', id: 'demo.r20261123t180000z-k3j9x0a1b2' });
    assert.deepEqual(parseRoute(runsPath('demo')), { page: 'runs', analysisId: 'demo' });
    assert.deepEqual(parseRoute('/outbox/'), { page: 'outbox' });
    assert.deepEqual(parseRoute('/review/demo/%E0%A4%A'), { page: 'not-found' });
    assert.deepEqual(parseRoute('/a/demo'), { page: 'workspace', analysisId: 'demo' });
  });

  it('calls the documented routes', async () => {
    // Prepare
    const seen: string[] = [];
    const api = createRunsApi(async (input, init) => {
      seen.push(`${init?.method} ${input} ${init?.body ?? ''}`.trim());
      return new Response('{}', { status: 200 });
    });

    // Act
    await api.submit('demo', 'counts by area');
    await api.list('demo');
    await api.queue();
    await api.detail('demo.r1');
    await api.file('demo.r1', 'src/my file.py', 'code', true);
    await api.decide('demo.r1', { verdict: 'approve', comment: '', manifestDigest: 'sha256:x' });

    // Assess
    assert.deepEqual(seen, [
      'POST /api/analyses/demo/runs {"description":"counts by area"}',
      'GET /api/analyses/demo/runs',
      'GET /api/review/queue',
      'GET /api/runs/demo.r1',
      'GET /api/runs/demo.r1/files/src/my%20file.py?from=code&diff=true',
      'POST /api/runs/demo.r1/decisions {"verdict":"approve","comment":"","manifestDigest":"sha256:x"}',
    ]);
    assert.equal(runFilePath('demo.r1', 'out/a.csv', 'outputs'), '/api/runs/demo.r1/files/out/a.csv?from=outputs');
  });
});
