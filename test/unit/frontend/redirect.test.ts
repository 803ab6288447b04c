import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { safeNextPath, signInUrl } from '../../../frontend/src/logic/redirect.js';
import { parseRoute, workspacePath } from '../../../frontend/src/logic/routes.js';

describe('safeNextPath', () => {
  it('follows a path on this origin', () => {
    assert.equal(safeNextPath('/a/demo'), '/a/demo');
    assert.equal(safeNextPath('/a/demo?x=1#top'), '/a/demo?x=1#top');
  });

  it('refuses anything that leaves the origin', () => {
    // Prepare
    const hostile = [
      '//evil.com',
      '//evil.com/a/demo',
      'https://evil.com/',
      'http://app.localhost:8080/a/demo',
      'javascript:alert(1)',
      '/\\evil.com',
      '\\\\evil.com',
      '/\t/evil.com',
      'evil.com',
      '',
      null,
      undefined,
    ];

    // Act
    const results = hostile.map((next) => safeNextPath(next));

    // Assess
    assert.deepEqual(
      results,
      hostile.map(() => '/'),
    );
  });

  it('does not send the user back to the sign-in page or the sign-in routes', () => {
    assert.equal(safeNextPath('/sign-in?next=/a/demo'), '/');
    assert.equal(safeNextPath('/auth/callback?code=x'), '/');
  });

  it('sends an unauthenticated user to the desk sign-in, returning to the current page', () => {
    assert.equal(signInUrl('/a/demo'), '/auth/login?returnTo=%2Fa%2Fdemo');
    assert.equal(signInUrl('/a/demo?x=1'), '/auth/login?returnTo=%2Fa%2Fdemo%3Fx%3D1');
    assert.equal(signInUrl('/'), '/auth/login');
    assert.equal(signInUrl('//evil.com'), '/auth/login');
  });
});

describe('parseRoute', () => {
  it('knows the pages', () => {
    assert.deepEqual(parseRoute('/'), { page: 'home' });
    assert.deepEqual(parseRoute('/sign-in'), { page: 'sign-in' });
    assert.deepEqual(parseRoute('/sign-out'), { page: 'sign-out' });
    assert.deepEqual(parseRoute('/a/census-2021'), { page: 'workspace', analysisId: 'census-2021' });
    assert.deepEqual(parseRoute('/a/demo/'), { page: 'workspace', analysisId: 'demo' });
    assert.deepEqual(parseRoute('/a/%E0%A4%A'), { page: 'not-found' });
    assert.deepEqual(parseRoute('/a/demo/extra'), { page: 'not-found' });
    assert.deepEqual(parseRoute('/nope'), { page: 'not-found' });
  });

  it('round-trips analysis ids through workspace paths', () => {
    assert.deepEqual(parseRoute(workspacePath('odd id/x')), { page: 'workspace', analysisId: 'odd id/x' });
  });
});
