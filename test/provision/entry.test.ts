/**
 * The provisioner's Lambda entry point wires from the environment (the desk's settings plus its own) and
 * answers a malformed invocation without touching AWS.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { entryEnv } from '../handlers/support.js';

describe('provisioner entry point (AWS wiring)', () => {
  before(() => {
    // Prepare: what CDK sets for the provisioner, with a PEM key so no KMS call is needed
    Object.assign(process.env, {
      ...entryEnv(),
      PROVISIONER_SSH_KEY_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:carrel/provisioner-key-AbCdEf',
      GATE_CERTIFICATE_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:carrel/gate-cert-AbCdEf',
      EFS_FILE_SYSTEM_ID: 'fs-0123456789abcdef0',
    });
  });

  it('exports a handler that drops a malformed request', async () => {
    // Prepare
    const { handler } = await import('../../lambdas/handlers/entry/provision.js');

    // Act
    const outcome = await handler({ analysisId: 'demo' });

    // Assess
    assert.equal(outcome.outcome, 'skipped');
    assert.match(outcome.outcome === 'skipped' ? outcome.note : '', /^invalid request: userId/);
  });
});
