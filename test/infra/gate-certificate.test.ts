/**
 * The gate certificate's renewal in the stateless stack: the function and its settings, the daily schedule,
 * the run at deploy, and IAM that lets it touch only `_acme-challenge.<desk domain>` TXT and its two secrets.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { parseConfig } from '../../lib/config.js';
import { loadRenewCertificateConfig } from '../../lambdas/handlers/renew-certificate.js';
import { EC2_CONFIG, FARGATE_CONFIG, WORKSPACE_DESK, WORKSPACE_ZONE, buildTestApp } from './support.js';

type Resources = Record<string, { Type: string; Properties: Record<string, any>; DependsOn?: string[] }>;

const logicalId = (stack: Stack, construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as never);

function built(config = EC2_CONFIG) {
  const app = buildTestApp({ config });
  const renewal = app.stateless.gateCertificateRenewal;
  assert.ok(renewal && app.stateless.workspaces, 'the renewal is built with workspaces');
  const template = Template.fromStack(app.stateless);
  const resources = template.toJSON().Resources as Resources;
  const stack = app.stateless;
  return {
    app,
    renewal,
    template,
    resources,
    ids: {
      fn: logicalId(stack, renewal.function),
      role: stack.getLogicalId(renewal.function.role.node.defaultChild as never),
      accountKey: logicalId(stack, renewal.accountKeySecret),
      certificate: logicalId(stack, app.stateless.workspaces.certificateSecret),
      dnsPolicy: stack.getLogicalId(renewal.dnsPolicy.node.defaultChild as never),
    },
  };
}

/** Every statement of every policy attached to `roleId`. */
function statementsOf(resources: Resources, roleId: string): Array<{ Action: string | string[]; Resource: unknown; Condition?: unknown; policy: string }> {
  return Object.entries(resources)
    .filter(([, r]) => r.Type === 'AWS::IAM::Policy' && (r.Properties.Roles as unknown[]).some((role) => JSON.stringify(role) === JSON.stringify({ Ref: roleId })))
    .flatMap(([id, r]) => (r.Properties.PolicyDocument.Statement as any[]).map((s) => ({ ...s, policy: id })));
}

describe('gate certificate renewal (CDK)', () => {
  it('a function with its settings: Let\'s Encrypt production by default, the desk domain, the zone and both secrets', () => {
    // Prepare + Act
    const { template, ids } = built({ ...EC2_CONFIG, gateCertificate: { contactEmail: 'platform@uni.example' } });
    // Assess
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('renew the gates'),
      Timeout: 600,
      Environment: {
        Variables: Match.objectLike({
          ACME_DIRECTORY_URL: 'https://acme-v02.api.letsencrypt.org/directory',
          ACME_CONTACT_EMAIL: 'platform@uni.example',
          DESK_DOMAIN: WORKSPACE_DESK,
          HOSTED_ZONE_ID: WORKSPACE_ZONE.zoneId,
          GATE_CERTIFICATE_SECRET_ARN: { Ref: ids.certificate },
          ACME_ACCOUNT_KEY_SECRET_ARN: { Ref: ids.accountKey },
          RENEW_BEFORE_DAYS: '30',
        }),
      },
    });
  });

  it('its environment passes the handler\'s own validation once the references resolve', () => {
    // Prepare
    const { resources, ids } = built();
    const variables = resources[ids.fn]!.Properties.Environment.Variables as Record<string, unknown>;
    const resolved = Object.fromEntries(
      Object.entries(variables).map(([key, value]) => [key, typeof value === 'string' ? value : `arn:aws:secretsmanager:eu-west-2:123456789012:secret:${key}-AbCdEf`]),
    );
    // Act
    const config = loadRenewCertificateConfig(resolved);
    // Assess
    assert.equal(config.name, `*.${WORKSPACE_DESK}`);
  });

  it('runs every day and once at deploy, after its permissions are in place, with CloudFormation waiting no longer than 15 minutes', () => {
    // Prepare + Act
    const { template, resources, ids } = built();
    // Assess
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 day)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [ids.fn, 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 } })],
    });
    const [initial] = Object.entries(resources).filter(([, r]) => r.Type === 'Custom::CarrelGateCertificate');
    assert.ok(initial, 'a custom resource runs the renewal at deploy');
    assert.deepEqual(initial[1].Properties.ServiceToken, { 'Fn::GetAtt': [ids.fn, 'Arn'] });
    assert.equal(initial[1].Properties.Name, `*.${WORKSPACE_DESK}`);
    assert.equal(initial[1].Properties.ServiceTimeout, '900');
    assert.ok(initial[1].DependsOn?.includes(ids.dnsPolicy) && initial[1].DependsOn?.includes(ids.role));
  });

  it('may change only the _acme-challenge TXT record (CREATE/DELETE), read its zone and changes, and read/write only its two secrets', () => {
    // Prepare + Act
    const { resources, ids } = built();
    const statements = statementsOf(resources, ids.role);
    // Assess
    const byAction = (action: string) => statements.filter((s) => ([] as string[]).concat(s.Action).includes(action));
    const [change, ...moreChanges] = byAction('route53:ChangeResourceRecordSets');
    assert.equal(moreChanges.length, 0);
    assert.deepEqual(change!.Resource, { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:route53:::hostedzone/${WORKSPACE_ZONE.zoneId}`]] });
    assert.deepEqual(change!.Condition, {
      'ForAllValues:StringEquals': {
        'route53:ChangeResourceRecordSetsNormalizedRecordNames': [`_acme-challenge.${WORKSPACE_DESK}`],
        'route53:ChangeResourceRecordSetsRecordTypes': ['TXT'],
        'route53:ChangeResourceRecordSetsActions': ['CREATE', 'DELETE'],
      },
    });
    assert.deepEqual(byAction('route53:GetChange').map((s) => s.Resource), [{ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':route53:::change/*']] }]);
    assert.equal(byAction('route53:ListResourceRecordSets').length, 1);
    const secretStatements = statements.filter((s) => ([] as string[]).concat(s.Action).some((a) => a.startsWith('secretsmanager:')));
    assert.equal(secretStatements.length, 1);
    assert.deepEqual([...([] as string[]).concat(secretStatements[0]!.Action)].sort(), ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue']);
    const sorted = (values: unknown) => ([] as unknown[]).concat(values).map((v) => JSON.stringify(v)).sort();
    assert.deepEqual(sorted(secretStatements[0]!.Resource), sorted([{ Ref: ids.certificate }, { Ref: ids.accountKey }]));
    // Nothing else: logs to its own group, X-Ray, and the above.
    const actions = new Set(statements.flatMap((s) => ([] as string[]).concat(s.Action)));
    assert.deepEqual([...actions].sort(), [
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'route53:ChangeResourceRecordSets',
      'route53:GetChange',
      'route53:ListResourceRecordSets',
      'secretsmanager:GetSecretValue',
      'secretsmanager:PutSecretValue',
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ]);
  });

  it('is part of Fargate deployments too, and of none without workspaces', () => {
    // Prepare + Act
    const fargate = built(FARGATE_CONFIG);
    const none = buildTestApp({});
    // Assess
    fargate.template.resourceCountIs('Custom::CarrelGateCertificate', 1);
    assert.equal(none.stateless.gateCertificateRenewal, undefined);
    Template.fromStack(none.stateless).resourceCountIs('Custom::CarrelGateCertificate', 0);
  });

  it('settings: a staging directory and a shorter window pass through; a bad email or an http CA is refused by name', () => {
    // Prepare + Act
    const { template } = built({ ...EC2_CONFIG, gateCertificate: { acmeDirectoryUrl: 'https://acme-staging-v02.api.letsencrypt.org/directory', renewBeforeDays: 20 } });
    // Assess
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ ACME_DIRECTORY_URL: 'https://acme-staging-v02.api.letsencrypt.org/directory', RENEW_BEFORE_DAYS: '20' }) },
    });
    assert.throws(() => parseConfig({ ...EC2_CONFIG, gateCertificate: { contactEmail: 'nobody' } }), /gateCertificate\.contactEmail/);
    assert.throws(() => parseConfig({ ...EC2_CONFIG, gateCertificate: { acmeDirectoryUrl: 'http://ca.example/dir' } }), /gateCertificate\.acmeDirectoryUrl/);
    assert.throws(() => parseConfig({ ...EC2_CONFIG, gateCertificate: { renewBeforeDays: 90 } }), /gateCertificate\.renewBeforeDays/);
  });
});
