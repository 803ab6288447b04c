import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { App, Stack, Validations, type Acknowledgment } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { EC2_CONFIG, FARGATE_CONFIG, buildTestApp, type TestAppOptions } from './support.js';

const ACK_KEY = Validations.ACKNOWLEDGED_RULES_METADATA_KEY;

interface Ack {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
  readonly construct: IConstruct;
}

/**
 * Every acknowledgement recorded in the construct tree, except those aws-cdk-lib records for its own
 * CloudFormation validation (a Stack acknowledges `CloudFormation-Validate::W3010` for the AZs it renders).
 */
function acknowledgements(root: IConstruct): Ack[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === ACK_KEY && entry.data)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          id: id.replace(/^annotation::/i, ''),
          reason,
          construct,
        })),
      )
      .filter((ack) => !ack.id.startsWith('CloudFormation-Validate::')),
  );
}

/** The findings cdk-nag reports when nothing is acknowledged (acknowledge() is made a no-op while building). */
function unacknowledgedFindings(options: TestAppOptions): Array<{ rule: string; path: string }> {
  const original = Validations.prototype.acknowledge;
  Validations.prototype.acknowledge = function (..._rules: Acknowledgment[]) {};
  try {
    const { app } = buildTestApp(options);
    return new AwsSolutionsChecks().validateScope(app).violations.flatMap((v) =>
      v.violatingResources.map((r) => ({ rule: v.ruleName, path: r.constructPath ?? '' })),
    );
  } finally {
    Validations.prototype.acknowledge = original;
  }
}

const VARIANTS: Record<string, TestAppOptions> = {
  'default configuration with a built site': {},
  'certificate, hosted zone, no built site': {
    config: {
      deploymentId: 'prod',
      deskDomain: 'desk.uni.example',
      certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012',
      hostedZone: { zoneId: 'Z0123456789ABCDEFGHIJ', zoneName: 'uni.example' },
    },
    siteAssetDir: '/nonexistent/dist/frontend',
  },
  'EC2 workspaces, public addresses, Session Manager': {
    config: {
      ...EC2_CONFIG,
      workspaceAddress: 'public',
      ec2: { sessionManager: true },
    },
  },
  'enclave enabled (isolated network, buckets, build, run, step functions)': {
    config: { enclave: { enabled: true, mailFrom: 'enclave@uni.example', dataset: { bucketArn: 'arn:aws:s3:::research-data', prefix: 'cohort/' }, twoApprovals: true } },
  },
  'enclave with Fargate workspaces (run routes, home snapshot on the homes EFS)': {
    config: { ...FARGATE_CONFIG, enclave: { enabled: true, mailFrom: 'enclave@uni.example', dataset: { bucketArn: 'arn:aws:s3:::research-data', prefix: 'cohort/' } } },
  },
  'Fargate workspaces with an ECR gate image': {
    config: {
      ...FARGATE_CONFIG,
      allowedCidrs: ['198.51.100.0/24'],
      fargate: { ...FARGATE_CONFIG.fargate, gateImage: '123456789012.dkr.ecr.eu-west-2.amazonaws.com/carrel-gate:1.0.0' },
    },
  },
};

describe('cdk-nag AwsSolutions', () => {
  it('synthesizes like `cdk synth` (cdk-nag plugin and CloudFormation validation on) without a validation failure', () => {
    // Prepare
    const { app } = buildTestApp({ nag: true, cfnValidation: true });

    // Act
    const assembly = app.synth();

    // Assess
    assert.deepEqual(assembly.stacks.map((s) => s.stackName).sort(), ['carrel-carrel-stateful', 'carrel-carrel-stateless']);
  });

  for (const [kind, config] of [
    ['ec2', EC2_CONFIG],
    ['fargate', FARGATE_CONFIG],
  ] as const) {
    it(`synthesizes AWS workspaces (${kind}) like \`cdk synth\`: network, stateful and stateless stacks, no validation failure`, () => {
      // Prepare
      const { app } = buildTestApp({ config, nag: true, cfnValidation: kind === "ec2" });

      // Act
      const assembly = app.synth();

      // Assess
      assert.deepEqual(assembly.stacks.map((s) => s.stackName).sort(), ['carrel-test-network', 'carrel-test-stateful', 'carrel-test-stateless']);
    });
  }

  it('fails the synthesis when a resource breaks a rule (the plugin is wired)', () => {
    // Prepare
    const { app, stateless } = buildTestApp({ nag: true });
    new s3.Bucket(stateless, 'CarelessBucket');

    // Act
    let error: unknown;
    try {
      app.synth();
    } catch (caught) {
      error = caught;
    }

    // Assess
    assert.ok(error instanceof Error, 'synthesis fails');
    const reportPath = error.message.match(/found in: (\S+\.json)/)?.[1];
    assert.ok(reportPath, error.message);
    const report = JSON.parse(readFileSync(reportPath, 'utf8')) as { pluginReports: Array<{ violations: Array<{ ruleName: string; violatingConstructs?: Array<{ constructPath: string }> }> }> };
    const s10 = report.pluginReports.flatMap((r) => r.violations).find((v) => v.ruleName === 'AwsSolutions-S10');
    assert.ok(s10?.violatingConstructs?.some((c) => c.constructPath.includes('CarelessBucket')), 'the report names the careless bucket');
  });

  for (const [variant, options] of Object.entries(VARIANTS)) {
    describe(variant, () => {
      const { app } = buildTestApp(options);
      const acks = acknowledgements(app);

      it('reports no unacknowledged error or warning', () => {
        // Act
        const report = new AwsSolutionsChecks().validateScope(app);

        // Assess
        const found = report.violations.map((v) => `${v.severity} ${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);
        assert.deepEqual(found, []);
      });

      it('gives every acknowledgement a reason a reviewer can check, scoped below the stack', () => {
        // Assess
        assert.ok(acks.length > 0);
        for (const ack of acks) {
          const where = `${ack.id} at ${ack.path}`;
          assert.match(ack.id, /^AwsSolutions-[A-Z]+\d+(\[.+\])?$/, where);
          assert.ok(!(ack.construct instanceof App) && !Stack.isStack(ack.construct), `${where} must be on a construct, not a whole stack or app`);
          assert.ok(ack.reason.length >= 80, `${where}: reason too short`);
          assert.doesNotMatch(ack.reason, /\b(todo|tbd|fixme|n\/a|false positive|not needed|ignore)\b/i, where);
          // A specific finding, not a whole rule, for the rules that report findings.
          if (ack.id.startsWith('AwsSolutions-IAM')) assert.match(ack.id, /\[(Action|Resource|Policy)::.+\]$/, where);
        }
      });

      it('acknowledges only findings that exist, on the construct that has them', () => {
        // Prepare
        const findings = unacknowledgedFindings(options);

        // Assess
        for (const ack of acks) {
          const matching = findings.filter((f) => f.rule === ack.id && (f.path === ack.path || f.path.startsWith(`${ack.path}/`)));
          assert.ok(matching.length > 0, `stale acknowledgement ${ack.id} at ${ack.path}`);
        }
        for (const finding of findings) {
          assert.ok(
            acks.some((a) => a.id === finding.rule && (finding.path === a.path || finding.path.startsWith(`${a.path}/`))),
            `unacknowledged ${finding.rule} at ${finding.path}`,
          );
        }
      });
    });
  }
});
