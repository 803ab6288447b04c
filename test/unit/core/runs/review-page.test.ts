/** The review console's page of a run, as the review-needed mail links it (lambdas/core/runs/review-page.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ValidationError } from '../../../../lambdas/core/errors.js';
import { reviewPages } from '../../../../lambdas/core/runs/review-page.js';
import { parseRoute } from '../../../../frontend/src/logic/routes.js';

describe('review pages', () => {
  it("is the console's run route on the desk's origin, one the frontend opens as that run", () => {
    // Prepare
    const pageOf = reviewPages('http://app.localhost:8080');
    // Act
    const link = pageOf({ analysisId: 'demo', runId: 'r-20261123-ab12' });
    // Assess
    assert.equal(link, 'http://app.localhost:8080/review/demo/r-20261123-ab12');
    assert.deepEqual(parseRoute(new URL(link).pathname), { page: 'review-run', id: 'demo.r-20261123-ab12' });
  });

  it('escapes what a path segment cannot hold', () => {
    // Act
    const link = reviewPages('https://desk.uni.example')({ analysisId: 'a b', runId: 'r/1' });
    // Assess
    assert.equal(link, 'https://desk.uni.example/review/a%20b/r%2F1');
  });

  it('refuses a desk origin that is not an origin (path, trailing slash, other scheme), naming it', () => {
    for (const origin of ['https://desk.example/', 'https://desk.example/app', 'ftp://desk.example', 'desk.example', '']) {
      assert.throws(() => reviewPages(origin), (e: unknown) => e instanceof ValidationError && /desk origin/.test(e.message), origin);
    }
  });
});
