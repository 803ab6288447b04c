import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { LocalKeySigner } from '../../lambdas/adapters/tokens.js';
import { NOT_CONFIGURED } from '../../lambdas/handlers/unconfigured.js';
import { bodyOf, httpEvent, ROUTES, TEST_ENV } from './support.js';

const ENTRIES = ['me', 'open', 'status', 'heartbeat', 'stop', 'agent-activity', 'housekeeping', 'compute-events'] as const;

describe('Lambda entry points (AWS wiring)', () => {
  before(() => {
    // Prepare: the environment CDK sets, with a PEM key so no KMS call is needed.
    Object.assign(process.env, { ...TEST_ENV, SIGNING_KEY_ID: '', SIGNING_KEY_PEM: LocalKeySigner.generatePem(), AWS_REGION: 'eu-west-2', POWERTOOLS_LOG_LEVEL: 'SILENT' });
  });

  it('each exports a handler function', async () => {
    // Act
    const modules = await Promise.all(ENTRIES.map((name) => import(`../../lambdas/handlers/entry/${name}.js`)));
    // Assess
    for (const [i, mod] of modules.entries()) assert.equal(typeof mod.handler, 'function', ENTRIES[i]);
  });

  it('answers an unauthenticated status poll with 401 before touching AWS', async () => {
    // Prepare
    const { handler } = await import('../../lambdas/handlers/entry/status.js');
    // Act
    const result = await handler(httpEvent(ROUTES.status, { pathParameters: { analysisId: 'demo' } }));
    // Assess
    assert.equal(result.statusCode, 401);
    assert.equal(bodyOf(result).error.code, 'unauthenticated');
  });

  it('refuses an agent report without a token with 401', async () => {
    // Prepare
    const { handler } = await import('../../lambdas/handlers/entry/agent-activity.js');
    // Act
    const result = await handler(httpEvent(ROUTES.agentActivity, { body: { traffic: true, busy: false } }));
    // Assess
    assert.equal(result.statusCode, 401);
  });

  it('wires the unconfigured compute, homes and hostnames for now', async () => {
    // Prepare
    const { awsApp } = await import('../../lambdas/handlers/aws-wiring.js');
    const { deps } = awsApp();
    // Act / Assess
    await assert.rejects(deps.homes.ensure({ analysisId: 'demo', userId: 'alice' }), new RegExp(NOT_CONFIGURED));
    await assert.rejects(deps.compute.stop('i-1'), new RegExp(NOT_CONFIGURED));
    assert.equal(deps.hostnames.deskDomain, 'app.test');
  });
});
