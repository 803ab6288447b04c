import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeHousekeepingHandler, makeOpenHandler } from '../../lambdas/handlers/app.js';
import { NOT_CONFIGURED, UnconfiguredCompute, UnconfiguredHomes, UnconfiguredHostnames } from '../../lambdas/handlers/unconfigured.js';
import { DESK_DOMAIN } from '../support/fakes.js';
import { bodyOf, httpEvent, makeAppDeps, ROUTES, sessionCookie } from './support.js';

async function unconfiguredDeps() {
  const deps = await makeAppDeps();
  return { ...deps, compute: new UnconfiguredCompute(), homes: new UnconfiguredHomes(), hostnames: new UnconfiguredHostnames(DESK_DOMAIN) };
}

describe('a deployment without compute', () => {
  it('fails an open visibly with the reason, leaving nothing running', async () => {
    // Prepare
    const deps = await unconfiguredDeps();
    const event = httpEvent(ROUTES.open, { pathParameters: { analysisId: 'demo' }, cookies: [sessionCookie(await deps.idp.session('alice', { now: deps.clock.now() }))] });
    // Act
    const result = await makeOpenHandler(deps)(event);
    // Assess
    assert.equal(result.statusCode, 200);
    const view = bodyOf(result);
    assert.equal(view.state, 'failed');
    assert.match(view.reason, new RegExp(`Could not start the workspace: ${NOT_CONFIGURED}`));
    assert.equal(deps.store.peek({ analysisId: 'demo', userId: 'alice' })?.state, 'failed');
  });

  it('lets housekeeping pass without errors (nothing was ever created)', async () => {
    // Prepare
    const deps = await unconfiguredDeps();
    // Act
    const report = await makeHousekeepingHandler(deps)({});
    // Assess
    assert.deepEqual(report.errors, []);
  });

  it('refuses every change with the clear error', async () => {
    // Prepare
    const compute = new UnconfiguredCompute();
    const hostnames = new UnconfiguredHostnames(DESK_DOMAIN);
    // Act / Assess
    await assert.rejects(compute.stop('i-1'), new RegExp(NOT_CONFIGURED));
    await assert.rejects(compute.terminate('i-1'), new RegExp(NOT_CONFIGURED));
    await assert.rejects(hostnames.assign('ws-x.app.test', '10.0.0.1'), new RegExp(NOT_CONFIGURED));
    assert.equal(hostnames.deskDomain, DESK_DOMAIN);
  });
});
