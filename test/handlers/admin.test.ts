import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeploymentNotFoundError, type DeploymentResources } from '../../lambdas/adapters/aws/deployment-resources.js';
import { handleComputeEvent, openWorkspace } from '../../lambdas/core/index.js';
import type { Run } from '../../lambdas/core/runs/run.js';
import { runAdmin, type AdminContext } from '../../lambdas/handlers/admin.js';
import { awsAdminContext } from '../../lambdas/handlers/admin-aws.js';
import { FakeSpareStore, makeDeps, openToReady, users, type FakeDeps } from '../support/fakes.js';

function recorder() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

/** A context whose every part fails the test if used (for command lines that must make no call). */
const untouched: AdminContext = {
  desk: () => assert.fail('the desk was built'),
  runs: () => assert.fail('runs were read'),
  resources: () => assert.fail('resources were listed'),
};

function contextOf(f: FakeDeps, extra: Partial<AdminContext> = {}): AdminContext {
  return { desk: async () => f, runs: async () => [], resources: async () => [], ...extra };
}

describe('carrel-admin command line', () => {
  for (const [argv, message] of [
    [['bogus'], /Unknown command "bogus"/],
    [['stop', 'demo'], /stop needs ANALYSIS and USER/],
    [['stop', 'Demo!', 'alice'], /ANALYSIS "Demo!" is not an analysis id/],
    [['stop', 'demo', 'alice', '--reason', '  '], /--reason must not be empty/],
    [['runs'], /runs needs --analysis ID/],
    [['workspaces', 'extra'], /workspaces takes no arguments; got extra/],
    [['workspaces', '--color'], /Unknown option '--color'/],
    [['sweep-runs', 'now'], /sweep-runs takes no arguments; got now/],
  ] as const) {
    it(`refuses ${argv.join(' ')} with exit code 2 and the reason, touching nothing`, async () => {
      // Prepare
      const { io, err, out } = recorder();
      // Act
      const code = await runAdmin(argv, untouched, io);
      // Assess
      assert.equal(code, 2);
      assert.match(err.join('\n'), message);
      assert.match(err.join('\n'), /usage: npm run admin/);
      assert.deepEqual(out, []);
    });
  }

  it('prints the usage for help, touching nothing', async () => {
    // Prepare
    const { io, out } = recorder();
    // Act
    const code = await runAdmin(['help'], untouched, io);
    // Assess
    assert.equal(code, 0);
    assert.match(out.join('\n'), /workspaces \[--analysis ID\]/);
  });
});

describe('carrel-admin commands', () => {
  it('lists the active workspaces, and filters them by analysis', async () => {
    // Prepare
    const f = makeDeps();
    const ready = await openToReady(f, users.alice, 'demo');
    await openWorkspace(f, users.bob, 'census-2021');
    const all = recorder();
    const demo = recorder();
    const json = recorder();
    // Act
    const codes = [
      await runAdmin(['workspaces'], contextOf(f), all.io),
      await runAdmin(['workspaces', '--analysis', 'demo'], contextOf(f), demo.io),
      await runAdmin(['workspaces', '--json'], contextOf(f), json.io),
    ];
    // Assess
    assert.deepEqual(codes, [0, 0, 0]);
    assert.match(all.out[0]!, /^analysis\s+user\s+state\s+since\s+hostname\s+instance\s+reason$/);
    assert.equal(all.out.length, 4, 'header, rule and two workspaces');
    assert.ok(all.out.some((l) => l.startsWith('census-2021') && / bob /.test(l) && /starting/.test(l)));
    assert.equal(demo.out.length, 3);
    assert.match(demo.out[2]!, new RegExp(`^demo\\s+alice\\s+ready\\s+\\S+\\s+${ready.hostname}\\s+${ready.instanceId}`));
    const rows = JSON.parse(json.out.join('\n')) as Record<string, string>[];
    assert.deepEqual(rows.map((r) => `${r.analysis}/${r.user}/${r.state}`).sort(), ['census-2021/bob/starting', 'demo/alice/ready']);
  });

  it('stops a workspace with the engineer\'s reason: the instance is stopped, the hostname removed, the home kept', async () => {
    // Prepare
    const f = makeDeps();
    const ready = await openToReady(f, users.alice, 'demo');
    const { io, out } = recorder();
    // Act
    const code = await runAdmin(['stop', 'demo', 'alice', '--reason', 'Maintenance tonight'], contextOf(f), io);
    // Assess
    assert.equal(code, 0);
    assert.match(out[0]!, new RegExp(`stopping demo/alice \\(instance ${ready.instanceId}\\); the home is kept`));
    const after = f.store.peek({ analysisId: 'demo', userId: 'alice' })!;
    assert.equal(after.state, 'stopping');
    assert.equal(after.reason, 'Maintenance tonight');
    assert.deepEqual(f.compute.idsOf('stop'), [ready.instanceId]);
    assert.equal(f.hostnames.has(ready.hostname!), false);
  });

  it('says why there is nothing to stop (exit code 1), changing nothing', async () => {
    // Prepare
    const f = makeDeps();
    const opened = await openToReady(f, users.alice, 'demo');
    await runAdmin(['stop', 'demo', 'alice'], contextOf(f), recorder().io);
    await handleComputeEvent(f, { kind: 'stopped', instanceId: opened.instanceId! });
    const before = f.store.peek({ analysisId: 'demo', userId: 'alice' });
    const again = recorder();
    const missing = recorder();
    // Act
    const codes = [await runAdmin(['stop', 'demo', 'alice'], contextOf(f), again.io), await runAdmin(['stop', 'demo', 'carol'], contextOf(f), missing.io)];
    // Assess
    assert.deepEqual(codes, [1, 1]);
    assert.match(again.err[0]!, /demo\/alice is stopped: nothing to stop/);
    assert.match(missing.err[0]!, /There is no workspace demo\/carol/);
    assert.deepEqual(f.store.peek({ analysisId: 'demo', userId: 'alice' }), before);
  });

  it('lists an analysis\'s runs, newest first', async () => {
    // Prepare
    const f = makeDeps();
    const run = { runId: 'r-2', analysisId: 'demo', state: 'code-review', submittedBy: 'alice', stateEnteredAt: '2030-01-01T09:00:00.000Z', description: 'Table 3' } as unknown as Run;
    let asked: unknown[] = [];
    const { io, out } = recorder();
    // Act
    const code = await runAdmin(['runs', '--analysis', 'demo'], contextOf(f, { runs: async (...args) => ((asked = args), [run]) }), io);
    // Assess
    assert.equal(code, 0);
    assert.deepEqual(asked, ['demo', 100]);
    assert.match(out[2]!, /^r-2\s+code-review\s+alice\s+2030-01-01T09:00:00.000Z\s+Table 3$/);
  });

  it('lists every resource: tagged ones, ws-* records (untaggable) and warm-pool spares', async () => {
    // Prepare
    const spares = new FakeSpareStore();
    const f = makeDeps({ pool: { store: spares, policy: { targets: { small: 1 }, warmupMs: 1, maxAgeMs: 1, propagationMs: 1, claimGraceMs: 1, forResume: true } } });
    const ready = await openToReady(f, users.alice, 'demo');
    spares.seed({ size: 'small', spareId: 'abcdefghijklmnop', state: 'available', version: 2, hostLabel: 'ws-aaaaaaaaaaaaaaaa', instanceId: 'i-0spare', createdAt: f.clock.iso(), stateEnteredAt: f.clock.iso() });
    const tagged = [{ arn: `arn:aws:ec2:eu-west-2:1:instance/${ready.instanceId}`, type: 'ec2:instance', tags: { 'carrel:deployment': 'test', 'carrel:analysis': 'demo', 'carrel:user': 'alice' } }];
    const { io, out } = recorder();
    // Act
    const code = await runAdmin(['resources'], contextOf(f, { resources: async () => tagged }), io);
    // Assess
    assert.equal(code, 0);
    const text = out.join('\n');
    assert.match(text, new RegExp(`ec2:instance\\s+arn:aws:ec2:eu-west-2:1:instance/${ready.instanceId}\\s+analysis=demo user=alice`));
    assert.match(text, new RegExp(`route53:record\\s+${ready.hostname!.replace(/\./g, '\\.')}\\s+A record`));
    assert.match(text, /carrel:spare\s+abcdefghijklmnop\s+small available i-0spare/);
    assert.match(out.at(-1)!, /^3 resources at /);
  });

  it("marks an ended run's own role and task definition as leftovers, and sweep-runs deletes them (a running run's are kept)", async () => {
    // Prepare
    const f = makeDeps();
    const runs: Record<string, Run> = { 'r-ended': { state: 'failed' } as Run, 'r-busy': { state: 'running' } as Run };
    const ownedBy = (runId: string) => ({ 'carrel:deployment': 'test', 'carrel:analysis': 'demo', 'carrel:run': runId });
    const tagged = [
      { arn: 'arn:aws:iam::1:role/carrel/test/runs/carrel-test-run-r-ended', type: 'iam:role', tags: ownedBy('r-ended') },
      { arn: 'arn:aws:ecs:eu-west-2:1:task-definition/carrel-test-enclave-run-r-ended:1', type: 'ecs:task-definition', tags: ownedBy('r-ended') },
      { arn: 'arn:aws:iam::1:role/carrel/test/runs/carrel-test-run-r-busy', type: 'iam:role', tags: ownedBy('r-busy') },
      { arn: 'arn:aws:iam::1:role/carrel/test/runs/carrel-test-run-r-gone', type: 'iam:role', tags: ownedBy('r-gone') },
    ];
    const cleaned: string[] = [];
    const context = contextOf(f, {
      resources: async () => tagged,
      run: async (key) => runs[key.runId],
      cleanUpRun: async (key) => {
        cleaned.push(key.runId);
        if (key.runId === 'r-gone') throw new Error('AccessDenied: iam:DeleteRole');
        return [`role carrel-test-run-${key.runId}`];
      },
    });
    const listing = recorder();
    const dry = recorder();
    const sweep = recorder();
    // Act
    const codes = [
      await runAdmin(['resources'], context, listing.io),
      await runAdmin(['sweep-runs', '--dry-run'], context, dry.io),
      await runAdmin(['sweep-runs'], context, sweep.io),
    ];
    // Assess
    const text = listing.out.join('\n');
    assert.match(text, /carrel-test-run-r-ended\s+analysis=demo run=r-ended leftover \(run failed\)/);
    assert.match(text, /carrel-test-enclave-run-r-ended:1\s+analysis=demo run=r-ended leftover \(run failed\)/);
    assert.match(text, /carrel-test-run-r-busy\s+analysis=demo run=r-busy$/m);
    assert.match(text, /carrel-test-run-r-gone\s+analysis=demo run=r-gone leftover \(run no record\)/);
    assert.deepEqual(dry.out, ['would clean up run r-ended of demo (failed)', 'would clean up run r-gone of demo (no record)']);
    assert.deepEqual(cleaned, ['r-ended', 'r-gone'], 'each ended run once, the running one never');
    assert.deepEqual(sweep.out, ['run r-ended of demo (failed): removed role carrel-test-run-r-ended']);
    assert.match(sweep.err.join('\n'), /run r-gone of demo: .*iam:DeleteRole/);
    assert.deepEqual(codes, [0, 0, 1], 'a sweep that could not remove everything exits 1');
  });

  it('reports a failure (exit code 1) with its message', async () => {
    // Prepare
    const { io, err } = recorder();
    const failing: AdminContext = { ...untouched, desk: async () => { throw new DeploymentNotFoundError('No desk function "stop" tagged carrel:deployment=prod in this region'); } };
    // Act
    const code = await runAdmin(['workspaces'], failing, io);
    // Assess
    assert.equal(code, 1);
    assert.match(err[0]!, /^carrel-admin workspaces: No desk function "stop" tagged carrel:deployment=prod/);
  });
});

describe('carrel-admin on AWS', () => {
  it('builds the desk from the deployed stop function\'s settings, once, and refuses bad settings naming them', async () => {
    // Prepare
    let reads = 0;
    const resources = {
      deskEnvironment: async () => (reads++, { TABLE_NAME: 'carrel-prod', DEPLOYMENT_ID: 'prod' }),
      list: async () => [],
    } as unknown as DeploymentResources;
    const context = awsAdminContext({ deploymentId: 'prod', resources, buildDesk: () => assert.fail('built from bad settings') });
    const { io, err } = recorder();
    // Act
    const codes = [await runAdmin(['workspaces'], context, io), await runAdmin(['workspaces'], context, io)];
    // Assess
    assert.deepEqual(codes, [1, 1]);
    assert.match(err[0]!, /DESK_DOMAIN is required/);
    assert.equal(reads, 1, 'the settings are read once');
  });

  it('passes the validated desk settings to the wiring', async () => {
    // Prepare
    const f = makeDeps();
    const resources = { deskEnvironment: async () => ({ ...deskEnvironment() }), list: async () => [] } as unknown as DeploymentResources;
    let tableName = '';
    const context = awsAdminContext({ deploymentId: 'test', resources, buildDesk: (config) => ((tableName = config.tableName), f) });
    const { io, out } = recorder();
    // Act
    const code = await runAdmin(['workspaces'], context, io);
    // Assess
    assert.equal(code, 0);
    assert.equal(tableName, 'carrel-test-table');
    assert.deepEqual(out, ['(none)']);
  });

  it("lists the tagged resources and the deployment's roles together, and sweeps with the run clean-up", async () => {
    // Prepare
    const instance = { arn: 'arn:aws:ec2:eu-west-2:1:instance/i-0', type: 'ec2:instance', tags: {} };
    const role = { arn: 'arn:aws:iam::1:role/carrel/prod/runs/carrel-prod-run-r-1', type: 'iam:role', tags: { 'carrel:run': 'r-1' } };
    const resources = { deskEnvironment: async () => ({}), list: async () => [instance] } as unknown as DeploymentResources;
    const swept: string[] = [];
    const context = awsAdminContext({ deploymentId: 'prod', resources, roles: { list: async () => [role] }, runCleanUp: { cleanUp: async (key) => (swept.push(key.runId), []) } });
    // Act
    const listed = await context.resources();
    await context.cleanUpRun!({ analysisId: 'demo', runId: 'r-1' });
    // Assess
    assert.deepEqual(listed, [instance, role]);
    assert.deepEqual(swept, ['r-1']);
  });
});

function deskEnvironment(): Record<string, string> {
  return {
    TABLE_NAME: 'carrel-test-table',
    DEPLOYMENT_ID: 'test',
    DESK_DOMAIN: 'app.test',
    SIGNING_KEY_ID: 'arn:aws:kms:eu-west-2:111122223333:key/0b1c2d3e-1234-4abc-9def-0123456789ab',
    OIDC_ISSUER: 'https://idp.example.org/realms/carrel',
    OIDC_AUDIENCE: 'carrel-desk',
    OIDC_JWKS_URL: 'https://idp.example.org/realms/carrel/protocol/openid-connect/certs',
  };
}
