import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { CarrelConfigError, loadConfig, parseConfig } from '../../lib/config.js';

const context = (values: Record<string, unknown>) => ({ tryGetContext: (key: string) => values[key] });

describe('deployment configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'carrel-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('has defaults that synthesize offline', () => {
    // Act
    const config = loadConfig(context({}));

    // Assess
    assert.equal(config.deploymentId, 'carrel');
    assert.equal(config.deskDomain, 'desk.example.org');
    assert.deepEqual(config.idle, { timeoutSeconds: 1800, warningSeconds: 60, stoppedRetentionHours: 168 });
    assert.deepEqual(config.tokens, { gateCookieTtlSeconds: 900, agentTokenTtlSeconds: 2_592_000, heartbeatSeconds: 60 });
    assert.equal(config.oidc.rolesClaim, 'groups');
    assert.equal(config.oidc.sessionCookie, 'carrel_session');
    assert.equal(config.certificateArn, undefined);
    assert.equal(config.hostedZone, undefined);
    assert.deepEqual(config.allowedCidrs, []);
    assert.ok(config.instanceSizes.small);
  });

  it('reads a JSON file named by context carrelConfig, overlaid by context carrel', () => {
    // Prepare
    const file = join(dir, 'prod.json');
    writeFileSync(
      file,
      JSON.stringify({ deploymentId: 'prod', deskDomain: 'desk.uni.example', oidc: { issuer: 'https://sso.uni.example', audience: 'carrel-prod' } }),
    );

    // Act
    const config = loadConfig(context({ carrelConfig: file, carrel: JSON.stringify({ oidc: { audience: 'override' }, idle: { timeoutSeconds: 3600 } }) }));

    // Assess
    assert.equal(config.deploymentId, 'prod');
    assert.equal(config.deskDomain, 'desk.uni.example');
    assert.equal(config.oidc.issuer, 'https://sso.uni.example');
    assert.equal(config.oidc.audience, 'override');
    assert.equal(config.idle.timeoutSeconds, 3600);
    assert.equal(config.idle.warningSeconds, 60);
  });

  it('accepts context carrel as an object (cdk.json)', () => {
    // Act
    const config = loadConfig(context({ carrel: { deploymentId: 'dev', logRetentionDays: 30 } }));

    // Assess
    assert.equal(config.deploymentId, 'dev');
    assert.equal(config.logRetentionDays, 30);
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['a malformed desk domain', { deskDomain: 'not a domain' }, /deskDomain: must be a DNS name/],
    ['a non-https issuer', { oidc: { issuer: 'http://idp.example.org' } }, /oidc\.issuer: must be an https:\/\/ URL/],
    ['a certificate outside us-east-1', { certificateArn: 'arn:aws:acm:eu-west-2:123456789012:certificate/12345678-1234-1234-1234-123456789012' }, /certificateArn: .*us-east-1/],
    ['a warning longer than the timeout', { idle: { timeoutSeconds: 120, warningSeconds: 300 } }, /idle\.warningSeconds: must be shorter than idle\.timeoutSeconds/],
    ['a misspelt setting', { deskDomian: 'desk.example.org' }, /deskDomian: is not a known setting/],
    ['an unsupported log retention', { logRetentionDays: 42 }, /logRetentionDays: must be one of/],
    ['a bad CIDR', { allowedCidrs: ['10.0.0.0/33'] }, /allowedCidrs\.0: must be a CIDR block/],
    ['a zone that does not hold the desk', { deskDomain: 'desk.uni.example', hostedZone: { zoneId: 'Z0123456789ABCDEFGHIJ', zoneName: 'other.example' } }, /hostedZone\.zoneName: must be deskDomain/],
    ['an upper-case deployment id', { deploymentId: 'Prod' }, /deploymentId: must be 1-24 lower-case/],
  ];
  for (const [what, raw, message] of bad) {
    it(`refuses ${what}, naming the setting`, () => {
      // Act / Assess
      assert.throws(() => parseConfig(raw), (error) => error instanceof CarrelConfigError && message.test(error.message));
    });
  }

  it('says where a bad setting came from', () => {
    // Prepare
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ tokens: { heartbeatSeconds: 2 } }));

    // Act / Assess
    assert.throws(
      () => loadConfig(context({ carrelConfig: file })),
      (error) => error instanceof CarrelConfigError && error.message.includes(file) && /tokens\.heartbeatSeconds: must be at least 5/.test(error.message),
    );
  });

  it('explains a missing file and malformed JSON', () => {
    // Prepare
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{ "deploymentId": ');

    // Act / Assess
    assert.throws(() => loadConfig(context({ carrelConfig: join(dir, 'missing.json') })), /Cannot read the carrel configuration file .*missing\.json/);
    assert.throws(() => loadConfig(context({ carrelConfig: broken })), /not valid JSON/);
    assert.throws(() => loadConfig(context({ carrel: '[1,2]' })), /must be a JSON object/);
  });

  it('stops `cdk synth` with the message, naming the setting (bin/carrel.ts)', () => {
    // Prepare
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const env = { ...process.env, CDK_CONTEXT_JSON: JSON.stringify({ carrel: { deskDomain: 'not a domain' } }), CDK_OUTDIR: join(dir, 'out') };

    // Act
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'bin/carrel.ts'], { cwd: root, env, encoding: 'utf8' });

    // Assess
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, /Invalid carrel configuration \(from context "carrel"\): deskDomain: must be a DNS name/);
  });
});
