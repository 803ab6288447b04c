import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { NOT_CONFIGURED } from '../../lambdas/handlers/unconfigured.js';
import { bodyOf, entryEnv, httpEvent, ROUTES } from './support.js';

const ENTRIES = ['me', 'open', 'status', 'heartbeat', 'stop', 'agent-activity', 'agent-bootstrap', 'housekeeping', 'compute-events'] as const;

describe('Lambda entry points (AWS wiring)', () => {
  before(() => {
    // Prepare: the environment CDK sets, with a PEM key so no KMS call is needed.
    Object.assign(process.env, entryEnv());
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

  it('answers a bootstrap request with 404 when there are no Fargate workspaces, before touching AWS', async () => {
    // Prepare
    const { handler } = await import('../../lambdas/handlers/entry/agent-bootstrap.js');
    // Act
    const result = await handler(httpEvent('POST /api/agent/bootstrap', { body: { request: { url: 'https://sts.eu-west-2.amazonaws.com/', headers: {}, body: '' } } }));
    // Assess
    assert.equal(result.statusCode, 404);
    assert.match(bodyOf(result).error.message, /no Fargate workspaces/);
  });

  it('wires the unconfigured compute, homes and hostnames when COMPUTE_KIND, EFS_FILE_SYSTEM_ID and HOSTED_ZONE_ID are unset', async () => {
    // Prepare
    const { awsApp } = await import('../../lambdas/handlers/aws-wiring.js');
    const { deps } = awsApp();
    // Act / Assess
    await assert.rejects(deps.homes.ensure({ analysisId: 'demo', userId: 'alice' }), /EFS_FILE_SYSTEM_ID is not set/);
    await assert.rejects(deps.compute.stop('i-1'), new RegExp(`${NOT_CONFIGURED} \\(COMPUTE_KIND is not set\\)`));
    await assert.rejects(deps.hostnames.assign('ws-a1b2c3d4e5f6g7h8.app.test', '10.0.0.1'), /HOSTED_ZONE_ID is not set/);
    assert.equal(deps.hostnames.deskDomain, 'app.test');
    assert.equal(deps.provisioner, undefined);
    assert.equal(deps.computeEventSources, undefined);
  });

  it('drops raw EC2 and ECS events when no compute is configured, before touching the store', async () => {
    // Prepare
    const { handler } = await import('../../lambdas/handlers/entry/compute-events.js');
    // Act
    const ec2 = await handler({ source: 'aws.ec2', 'detail-type': 'EC2 Instance State-change Notification', detail: { 'instance-id': 'i-0a1b2c3d4e5f60718', state: 'running' } });
    const ecs = await handler({
      source: 'aws.ecs',
      'detail-type': 'ECS Task State Change',
      detail: { taskArn: 'arn:aws:ecs:eu-west-2:111122223333:task/c/6f1e2d3c4b5a69788796a5b4c3d2e1f0', lastStatus: 'RUNNING' },
    });
    // Assess
    assert.deepEqual(ec2, { applied: false, note: 'EC2 Instance State-change Notification needs COMPUTE_KIND=ec2' });
    assert.deepEqual(ecs, { applied: false, note: 'ECS Task State Change needs COMPUTE_KIND=fargate' });
  });
});
