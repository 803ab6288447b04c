import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { describe, it } from 'node:test';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { TransientError, type CertificateAuthorityPort, type CurrentCertificate, type IssuedCertificate } from '../../lambdas/core/index.js';
import { ConfigError } from '../../lambdas/handlers/config.js';
import { LETS_ENCRYPT_PRODUCTION, loadRenewCertificateConfig, makeRenewCertificateHandler } from '../../lambdas/handlers/renew-certificate.js';
import { FakeClock, FakeLog, T0 } from '../support/fakes.js';

const ENV = {
  DESK_DOMAIN: 'Desk.Example.org',
  HOSTED_ZONE_ID: 'Z0123456789ABCDEFGHIJ',
  GATE_CERTIFICATE_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:carrel/gate-certificate-AbCdEf',
  ACME_ACCOUNT_KEY_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:carrel/acme-account-GhIjKl',
};
const NAME = '*.desk.example.org';

describe('renew-certificate settings', () => {
  it("defaults to Let's Encrypt production and 30 days, and names the certificate *.<desk domain>", () => {
    // Act
    const config = loadRenewCertificateConfig(ENV);
    // Assess
    assert.equal(config.directoryUrl, LETS_ENCRYPT_PRODUCTION);
    assert.equal(config.renewBeforeDays, 30);
    assert.equal(config.name, NAME);
    assert.equal(config.contactEmail, undefined);
  });

  for (const [what, env, message] of [
    ['no desk domain', { DESK_DOMAIN: '' }, /DESK_DOMAIN is required/],
    ['an http directory', { ACME_DIRECTORY_URL: 'http://acme.example/dir' }, /ACME_DIRECTORY_URL must be an https:\/\/ URL/],
    ['a bad email', { ACME_CONTACT_EMAIL: 'platform at example.org' }, /ACME_CONTACT_EMAIL must be an email address/],
    ['a KMS ARN for a secret', { ACME_ACCOUNT_KEY_SECRET_ARN: 'arn:aws:kms:eu-west-2:123456789012:key/abc' }, /ACME_ACCOUNT_KEY_SECRET_ARN must be a Secrets Manager secret ARN/],
    ['a zone id that is not one', { HOSTED_ZONE_ID: 'example.org' }, /HOSTED_ZONE_ID must be a Route 53 hosted zone id/],
    ['renewing 90 days before', { RENEW_BEFORE_DAYS: '90' }, /RENEW_BEFORE_DAYS must be at most 60/],
  ] as const) {
    it(`refuses ${what}, naming the setting`, () => {
      // Act + Assess
      assert.throws(() => loadRenewCertificateConfig({ ...ENV, ...env }), (e: Error) => e instanceof ConfigError && message.test(e.message));
    });
  }
});

function setup(held: CurrentCertificate, issue: () => Promise<IssuedCertificate>) {
  const responses: { url: string; body: Record<string, unknown> }[] = [];
  const saved: IssuedCertificate[] = [];
  const log = new FakeLog();
  const authority: CertificateAuthorityPort & { calls: number } = {
    calls: 0,
    async issue() {
      this.calls++;
      return issue();
    },
  };
  const handler = makeRenewCertificateHandler(
    {
      store: { current: async () => held, save: async (c) => void saved.push(c) },
      authority,
      clock: new FakeClock(T0),
      log,
      respond: async (url, body) => void responses.push({ url, body: JSON.parse(body) }),
    },
    { name: NAME, renewBeforeDays: 30 },
  );
  return { handler, responses, saved, authority, log };
}

const issued = async (): Promise<IssuedCertificate> => ({ certificate: 'C', privateKey: 'K', expiresAt: new Date(T0.getTime() + 90 * 86_400_000), names: [NAME] });

function cfnEvent(RequestType: 'Create' | 'Update' | 'Delete'): CloudFormationCustomResourceEvent {
  return {
    RequestType,
    ServiceToken: 'arn:aws:lambda:eu-west-2:123456789012:function:renew',
    ResponseURL: 'https://cloudformation-custom-resource-response.example/presigned',
    StackId: 'arn:aws:cloudformation:eu-west-2:123456789012:stack/carrel-prod-stateless/abc',
    RequestId: 'req-1',
    LogicalResourceId: 'GateCertificateRenewal',
    ResourceType: 'Custom::CarrelGateCertificate',
    ResourceProperties: { ServiceToken: 'x' },
    ...(RequestType === 'Create' ? {} : { PhysicalResourceId: 'gate-certificate:*.desk.example.org', OldResourceProperties: {} }),
  } as CloudFormationCustomResourceEvent;
}

describe('renew-certificate handler', () => {
  it('a scheduled run renews a missing certificate; a failure is thrown for Lambda to retry', async () => {
    // Prepare
    const ok = setup({ missing: 'placeholder' }, issued);
    const failing = setup({ missing: 'placeholder' }, async () => Promise.reject(new TransientError('Route 53 throttled')));
    // Act
    const result = await ok.handler({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} });
    // Assess
    assert.equal((result as { action: string }).action, 'renewed');
    assert.equal(ok.saved.length, 1);
    await assert.rejects(failing.handler({ source: 'aws.events', 'detail-type': 'Scheduled Event' }), TransientError);
  });

  it('the deploy (Create) renews and answers CloudFormation SUCCESS with the expiry', async () => {
    // Prepare
    const { handler, responses, saved } = setup({ missing: 'placeholder' }, issued);
    // Act
    await handler(cfnEvent('Create'));
    // Assess
    assert.equal(saved.length, 1);
    assert.equal(responses.length, 1);
    assert.equal(responses[0]!.url, 'https://cloudformation-custom-resource-response.example/presigned');
    assert.deepEqual(responses[0]!.body, {
      StackId: 'arn:aws:cloudformation:eu-west-2:123456789012:stack/carrel-prod-stateless/abc',
      RequestId: 'req-1',
      LogicalResourceId: 'GateCertificateRenewal',
      Status: 'SUCCESS',
      PhysicalResourceId: 'gate-certificate:*.desk.example.org',
      Data: { ExpiresAt: '2030-04-01T09:00:00.000Z' },
    });
  });

  it('a failed issuance at the first deploy (Create) answers FAILED with the reason (and does not throw)', async () => {
    // Prepare
    const { handler, responses } = setup({ missing: 'placeholder' }, async () => Promise.reject(new Error('No TXT records found for DNS challenge')));
    // Act
    await handler(cfnEvent('Create'));
    // Assess
    assert.equal(responses[0]!.body.Status, 'FAILED');
    assert.equal(responses[0]!.body.PhysicalResourceId, 'gate-certificate:*.desk.example.org');
    assert.equal(responses[0]!.body.Reason, 'The gate certificate for *.desk.example.org could not be issued: No TXT records found for DNS challenge');
  });

  it('a failed issuance at a later deploy (Update) is logged and answers SUCCESS, so a rollback cannot get stuck on it', async () => {
    // Prepare
    const { handler, responses, log } = setup({ missing: 'placeholder' }, async () => Promise.reject(new Error('No TXT records found for DNS challenge')));
    // Act
    await handler(cfnEvent('Update'));
    // Assess
    assert.equal(responses[0]!.body.Status, 'SUCCESS');
    assert.deepEqual(responses[0]!.body.Data, { Warning: 'The gate certificate for *.desk.example.org could not be issued: No TXT records found for DNS challenge' });
    assert.equal(log.find('the renewal at deploy failed', 'error').length, 1);
  });

  it('Delete touches nothing and answers SUCCESS', async () => {
    // Prepare
    const { handler, responses, authority } = setup({ missing: 'placeholder' }, issued);
    // Act
    await handler(cfnEvent('Delete'));
    // Assess
    assert.equal(authority.calls, 0);
    assert.equal(responses[0]!.body.Status, 'SUCCESS');
  });
});

describe('renew-certificate entry point (AWS wiring)', () => {
  it('wires from the environment and answers a Delete to the ResponseURL without touching AWS', async () => {
    // Prepare
    const received: string[] = [];
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        received.push(`${request.method} ${body}`);
        response.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    Object.assign(process.env, { ...ENV, AWS_REGION: 'eu-west-2', POWERTOOLS_LOG_LEVEL: 'SILENT' });
    try {
      const { handler } = await import('../../lambdas/handlers/entry/renew-certificate.js');
      // Act
      await handler({ ...cfnEvent('Delete'), ResponseURL: `http://127.0.0.1:${port}/presigned` });
      // Assess
      assert.equal(received.length, 1);
      assert.match(received[0]!, /^PUT .*"Status":"SUCCESS"/);
    } finally {
      server.close();
    }
  });
});
