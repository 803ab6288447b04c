/**
 * The provisioner handler's decisions with fakes for the console, the secrets and the SSH run (the real
 * SSH runs are in provision-ssh.test.ts): what it skips, how long it waits for the host keys, what it
 * reports, and the pure helpers (login names, the gate environment file, addresses, reasons).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProvisionJob, ProvisionResult, RemoteProvisioning, SshTarget } from '../../lambdas/adapters/ssh-provisioning.js';
import { cleanReason, normalizeFingerprint, redact, scriptReason, shellQuote } from '../../lambdas/adapters/ssh-provisioning.js';
import { TransientError } from '../../lambdas/core/index.js';
import { ConfigError } from '../../lambdas/handlers/config.js';
import {
  addressHost,
  gateEnvFile,
  gitRemoteFor,
  loadProvisionerConfig,
  makeProvisionHandler,
  researcherLogin,
  type ProvisionDeps,
} from '../../lambdas/handlers/provision.js';
import { makeAppDeps } from '../handlers/support.js';
import { makeWorkspace, seedWorkspace } from '../support/fakes.js';

const FINGERPRINT = 'SHA256:jn+EtyXZ90vlLACNUKBEYNxGdt+47ObxAQRKPp3h0es';

/** Records what it was asked to run and answers `result`. */
class FakeRemote implements RemoteProvisioning {
  readonly calls: { target: SshTarget; job: ProvisionJob }[] = [];
  constructor(private readonly result: ProvisionResult = { ok: true, changes: ['added README.md'], summary: 'carrel-provision: ok, 1 changes', durationMs: 5 }) {}
  async provision(target: SshTarget, job: ProvisionJob): Promise<ProvisionResult> {
    this.calls.push({ target, job });
    return this.result;
  }
}

async function setup(options: { fingerprints?: () => Promise<readonly string[]>; remote?: FakeRemote; overrides?: Partial<ProvisionDeps> } = {}) {
  const app = await makeAppDeps();
  const remote = options.remote ?? new FakeRemote();
  const polls: string[] = [];
  const sleeps: number[] = [];
  const deps: ProvisionDeps = {
    ...app,
    hostKeys: {
      fingerprints: async (instanceId) => {
        polls.push(instanceId);
        return options.fingerprints ? options.fingerprints() : [FINGERPRINT];
      },
    },
    remote,
    secrets: {
      sshPrivateKey: async () => '-----BEGIN OPENSSH PRIVATE KEY-----\nprovisioner-key-material\n-----END OPENSSH PRIVATE KEY-----\n',
      gateCertificate: async () => ({ certificate: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', privateKey: '-----BEGIN PRIVATE KEY-----\ngate-key-material\n-----END PRIVATE KEY-----\n' }),
    },
    assets: async () => ({ script: '#!/bin/bash\n', gateBundle: '// gate\n', template: [{ path: 'README.md', content: '# {{ANALYSIS_ID}}\n' }] }),
    settings: {
      fileSystemId: 'fs-0123456789abcdef0',
      homeUid: 1000,
      homeGid: 1000,
      gatePort: 443,
      sshUser: 'carrel-provisioner',
      sshPort: 22,
      sudo: true,
      remoteDir: '/home/carrel-provisioner/incoming',
      runTimeoutMs: 120_000,
      hostKeyWaitMs: 30_000,
      hostKeyPollMs: 5_000,
      dataApiKeyTtlSeconds: 3600,
    },
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...options.overrides,
  };
  return { app, deps, remote, polls, sleeps };
}

const requestOf = (ws: { analysisId: string; userId: string; generation: number }) => ({ analysisId: ws.analysisId, userId: ws.userId, generation: ws.generation });

describe('provisioner handler', () => {
  for (const [what, record] of [
    ['a ready workspace', makeWorkspace('ready')],
    ['a stopped workspace', makeWorkspace('stopped')],
    ['a workspace provisioning another generation', makeWorkspace('provisioning', { generation: 2 })],
  ] as const) {
    it(`does nothing for ${what}`, async () => {
      // Prepare
      const { app, deps, remote, polls } = await setup();
      seedWorkspace(app, record);
      const before = app.store.peek(record);

      // Act
      const outcome = await makeProvisionHandler(deps)({ analysisId: 'demo', userId: 'alice', generation: 1 });

      // Assess
      assert.equal(outcome.outcome, 'skipped');
      assert.deepEqual(polls, []);
      assert.equal(remote.calls.length, 0);
      assert.deepEqual(app.store.peek(record), before);
    });
  }

  it('does nothing for an unknown workspace or a malformed request', async () => {
    // Prepare
    const { deps, remote, app } = await setup();

    // Act
    const unknown = await makeProvisionHandler(deps)({ analysisId: 'demo', userId: 'nobody', generation: 1 });
    const malformed = await makeProvisionHandler(deps)({ analysisId: 'demo', generation: 'one' });

    // Assess
    assert.deepEqual(unknown, { outcome: 'skipped', note: 'no such workspace' });
    assert.equal(malformed.outcome, 'skipped');
    assert.match(malformed.outcome === 'skipped' ? malformed.note : '', /^invalid request: userId: .*generation: /);
    assert.equal(app.log.find('provision request dropped: malformed', 'error').length, 1);
    assert.equal(remote.calls.length, 0);
  });

  it('runs the script as carrel-provisioner at the record address with the console fingerprints, then reports tool-ready', async () => {
    // Prepare
    const { app, deps, remote } = await setup();
    const ws = seedWorkspace(app, makeWorkspace('provisioning'));

    // Act
    const outcome = await makeProvisionHandler(deps)(requestOf(ws));

    // Assess
    assert.deepEqual(outcome, { outcome: 'ready', changes: ['added README.md'] });
    assert.equal(app.store.peek(ws)?.state, 'ready');
    const [{ target, job }] = remote.calls as [(typeof remote.calls)[0]];
    assert.deepEqual({ ...target, privateKey: undefined }, { host: '10.0.0.1', port: 22, username: 'carrel-provisioner', privateKey: undefined, hostKeyFingerprints: [FINGERPRINT] });
    assert.equal(job.sudo, true);
    assert.equal(job.timeoutMs, 120_000);
    assert.deepEqual(
      job.files.map((f) => [f.path, f.mode.toString(8)]),
      [
        ['provision.sh', '700'],
        ['gate.mjs', '600'],
        ['gate.env', '600'],
        ['tls/cert.pem', '600'],
        ['tls/key.pem', '600'],
        ['data-api-key', '600'],
        ['template/README.md', '600'],
      ],
    );
    const dir = '/home/carrel-provisioner/incoming';
    assert.deepEqual(job.args, [
      '--user', 'alice', '--analysis', 'demo', '--uid', '1000', '--gid', '1000',
      '--access-point', 'home-demo-alice', '--file-system', 'fs-0123456789abcdef0',
      '--data-api-key-file', `${dir}/data-api-key`, '--git-remote', '',
      '--gate-bundle', `${dir}/gate.mjs`, '--gate-env', `${dir}/gate.env`,
      '--tls-cert', `${dir}/tls/cert.pem`, '--tls-key', `${dir}/tls/key.pem`, '--template', `${dir}/template`,
    ]);
    // secrets travel as files (never as arguments, which sudo logs) and are redacted from any reason
    const gateEnv = String(job.files.find((f) => f.path === 'gate.env')!.content);
    const agentToken = /^CARREL_GATE_AGENT_TOKEN='([^']+)'$/m.exec(gateEnv)![1]!;
    assert.ok(job.secrets?.includes(agentToken));
    assert.ok(job.secrets?.some((s) => s.includes('gate-key-material')));
    assert.ok(job.secrets?.some((s) => s.includes('provisioner-key-material')));
    assert.ok(!job.args.some((arg) => job.secrets!.some((secret) => arg.includes(secret))));
    assert.equal((await app.verifier.verifyAgentToken(agentToken)).workspaceId, ws.workspaceId);
  });

  it('waits for the console to show the host keys, a bounded number of times, then fails with a reason', async () => {
    // Prepare
    const { app, deps, remote, polls, sleeps } = await setup({ fingerprints: async () => [] });
    const ws = seedWorkspace(app, makeWorkspace('provisioning'));

    // Act
    const outcome = await makeProvisionHandler(deps)(requestOf(ws));

    // Assess: 30 s / 5 s → 7 looks, 6 pauses; no SSH at all
    const reason = 'Provisioning failed: the workspace did not report its SSH host keys on its console within 30 s';
    assert.deepEqual(outcome, { outcome: 'failed', reason });
    assert.equal(polls.length, 7);
    assert.deepEqual(sleeps, [5000, 5000, 5000, 5000, 5000, 5000]);
    assert.equal(remote.calls.length, 0);
    assert.equal(app.store.peek(ws)?.state, 'failed');
    assert.equal(app.store.peek(ws)?.reason, reason);
    assert.equal(app.compute.instances.get(ws.instanceId!)?.state, 'terminated');
  });

  it('keeps looking through transient console errors, and stops at once on any other', async () => {
    // Prepare
    let calls = 0;
    const found = await setup({
      fingerprints: async () => {
        if (++calls < 3) throw new TransientError('Reading the workspace console failed for now: Rate exceeded');
        return [FINGERPRINT];
      },
    });
    const throttled = await setup({
      fingerprints: async () => {
        throw new TransientError('Reading the workspace console failed for now: Rate exceeded');
      },
    });
    const denied = await setup({
      fingerprints: async () => {
        throw new Error('You are not authorized to perform this operation.');
      },
    });
    const [a, b, c] = [found, throttled, denied].map(({ app }) => seedWorkspace(app, makeWorkspace('provisioning')));

    // Act
    const first = await makeProvisionHandler(found.deps)(requestOf(a!));
    const second = await makeProvisionHandler(throttled.deps)(requestOf(b!));
    const third = await makeProvisionHandler(denied.deps)(requestOf(c!));

    // Assess
    assert.equal(first.outcome, 'ready');
    assert.equal(found.polls.length, 3);
    assert.deepEqual(second, { outcome: 'failed', reason: 'Provisioning failed: provisioning could not run: Reading the workspace console failed for now: Rate exceeded' });
    assert.equal(throttled.polls.length, 7);
    assert.deepEqual(third, { outcome: 'failed', reason: 'Provisioning failed: provisioning could not run: You are not authorized to perform this operation.' });
    assert.equal(denied.polls.length, 1);
  });

  it("reports the remote failure's reason", async () => {
    // Prepare
    const remote = new FakeRemote({ ok: false, stage: 'run', reason: 'could not mount the home (fs-1, fsap-2) within 60 s', exitCode: 3, changes: [] });
    const { app, deps } = await setup({ remote });
    const ws = seedWorkspace(app, makeWorkspace('provisioning'));

    // Act
    const outcome = await makeProvisionHandler(deps)(requestOf(ws));

    // Assess
    assert.deepEqual(outcome, { outcome: 'failed', reason: 'Provisioning failed: could not mount the home (fs-1, fsap-2) within 60 s' });
    assert.equal(app.store.peek(ws)?.reason, 'Provisioning failed: could not mount the home (fs-1, fsap-2) within 60 s');
  });

  it('abandons the run when the workspace moved on while it waited for the console', async () => {
    // Prepare: a stop arrives while the console is being read
    const holder: { app?: Awaited<ReturnType<typeof makeAppDeps>> } = {};
    const ws = makeWorkspace('provisioning');
    const { app, deps, remote } = await setup({
      fingerprints: async () => {
        const current = holder.app!.store.peek(ws)!;
        holder.app!.store.seed({ ...current, state: 'stopping', version: current.version + 1 });
        return [FINGERPRINT];
      },
    });
    holder.app = app;
    seedWorkspace(app, ws);

    // Act
    const outcome = await makeProvisionHandler(deps)(requestOf(ws));

    // Assess
    assert.equal(outcome.outcome, 'skipped');
    assert.equal(remote.calls.length, 0);
    assert.equal(app.store.peek(ws)?.state, 'stopping');
  });

  it('does not report over a workspace that moved on while the script ran', async () => {
    // Prepare
    const ws = makeWorkspace('provisioning');
    const holder: { app?: Awaited<ReturnType<typeof makeAppDeps>> } = {};
    const remote = new (class extends FakeRemote {
      override async provision(target: SshTarget, job: ProvisionJob): Promise<ProvisionResult> {
        const current = holder.app!.store.peek(ws)!;
        holder.app!.store.seed({ ...current, state: 'stopping', version: current.version + 1 });
        return super.provision(target, job);
      }
    })();
    const { app, deps } = await setup({ remote });
    holder.app = app;
    seedWorkspace(app, ws);

    // Act
    const outcome = await makeProvisionHandler(deps)(requestOf(ws));

    // Assess
    assert.deepEqual(outcome, { outcome: 'skipped', note: 'the workspace moved on before provisioning finished' });
    assert.equal(app.store.peek(ws)?.state, 'stopping');
  });

  it('caps the run by the time left in the invocation, and fails when too little is left', async () => {
    // Prepare
    const roomy = await setup();
    const tight = await setup();
    const a = seedWorkspace(roomy.app, makeWorkspace('provisioning'));
    const b = seedWorkspace(tight.app, makeWorkspace('provisioning'));

    // Act
    await makeProvisionHandler(roomy.deps)(requestOf(a), { getRemainingTimeInMillis: () => 100_000 });
    const outcome = await makeProvisionHandler(tight.deps)(requestOf(b), { getRemainingTimeInMillis: () => 30_000 });

    // Assess: 100 s left − 15 s to report: the job must be over by then (the adapter fits connect and run in it)
    const job = roomy.remote.calls[0]!.job;
    assert.equal(job.timeoutMs, 120_000);
    assert.ok(Math.abs(job.deadlineAt! - (Date.now() + 85_000)) < 2_000, `deadline ${job.deadlineAt! - Date.now()} ms away`);
    assert.equal(outcome.outcome, 'failed');
    assert.match(outcome.outcome === 'failed' ? outcome.reason : '', /too little time was left/);
    assert.equal(tight.remote.calls.length, 0);
  });

  it('connects to the address sshHostOf gives and mounts the home homeOf names (both from the instance on AWS)', async () => {
    // Prepare
    const { app, deps, remote } = await setup({
      overrides: { sshHostOf: async (w) => `private-of-${w.instanceId}`, homeOf: async () => 'fsap-0123456789abcdef0' },
    });
    const ws = seedWorkspace(app, makeWorkspace('provisioning', { address: '203.0.113.7:443' }));

    // Act
    await makeProvisionHandler(deps)(requestOf(ws));

    // Assess
    assert.equal(remote.calls[0]?.target.host, 'private-of-i-alice0001');
    const args = remote.calls[0]!.job.args;
    assert.equal(args[args.indexOf('--access-point') + 1], 'fsap-0123456789abcdef0');
    assert.deepEqual(app.homes.calls, [], 'no EFS call when the instance names its home');
  });
});

describe('provisioner helpers', () => {
  it('derives a safe login name from the user id', () => {
    // Act / Assess
    assert.equal(researcherLogin('alice'), 'alice');
    assert.equal(researcherLogin('Alice.Smith@example.org'), 'alice-smith');
    assert.equal(researcherLogin('1234567'), 'u1234567');
    assert.equal(researcherLogin('root'), 'r-root');
    assert.equal(researcherLogin('carrel-gate'), 'r-carrel-gate');
    assert.equal(researcherLogin('a'.repeat(100)), 'a'.repeat(32));
    for (const id of ['x|y:z=w', '___', 'Ünïcode', 'admin@corp']) assert.match(researcherLogin(id), /^[a-z][a-z0-9_-]{0,31}$/);
  });

  it('takes the host out of an address', async () => {
    // Act / Assess
    assert.equal(await addressHost({ address: '10.0.0.1:8443' }), '10.0.0.1');
    assert.equal(await addressHost({ address: '10.0.0.1' }), '10.0.0.1');
    assert.equal(await addressHost({ address: '[fd00::1]:443' }), 'fd00::1');
    await assert.rejects(addressHost({}), /no address/);
  });

  it('writes the gate environment with single-quoted values and refuses what systemd could not read back', () => {
    // Act / Assess
    assert.equal(gateEnvFile({ CARREL_GATE_PORT: '443', CARREL_GATE_PUBLIC_KEY: 'a\\nb' }), "CARREL_GATE_PORT='443'\nCARREL_GATE_PUBLIC_KEY='a\\nb'\n");
    assert.throws(() => gateEnvFile({ CARREL_GATE_X: "it's" }), /cannot be written/);
    assert.throws(() => gateEnvFile({ CARREL_GATE_X: 'a\nb' }), /cannot be written/);
    assert.throws(() => gateEnvFile({ PATH: '/bin' }), /not a gate setting/);
  });

  it('fills the git remote template', () => {
    // Act / Assess
    assert.equal(gitRemoteFor('https://git.example.org/{analysisId}/{userId}.git', { analysisId: 'demo', userId: 'a@b.org' }), 'https://git.example.org/demo/a%40b.org.git');
    assert.equal(gitRemoteFor(undefined, { analysisId: 'demo', userId: 'a' }), '');
  });

  it("takes the script's own reason, redacts secrets, and falls back to stderr or the exit code", () => {
    // Act / Assess
    assert.equal(scriptReason('changed: x\n', 'warning\ncarrel-provision: user bob exists with uid 1001, not 1000\n', 4), 'user bob exists with uid 1001, not 1000');
    assert.equal(scriptReason('', 'sudo: a password is required\n', 1), 'the provisioning script failed (exit 1): sudo: a password is required');
    assert.equal(scriptReason('', '', 9), 'the provisioning script failed (exit 9)');
    assert.equal(scriptReason('', 'carrel-provision: token s3cr3t-token-value leaked\n', 1, ['s3cr3t-token-value']), 'token [redacted] leaked');
    assert.equal(redact('-----BEGIN KEY-----\nAAAABBBBCCCC\n', ['-----BEGIN KEY-----\nAAAABBBBCCCC\n-----END KEY-----']), '[redacted]\n[redacted]\n');
    assert.equal(cleanReason(`a\u0007b\n${'x'.repeat(400)}`).length, 300);
  });

  it('quotes shell arguments and recognizes fingerprints', () => {
    // Act / Assess
    assert.equal(shellQuote("it's; rm -rf /"), `'it'\\''s; rm -rf /'`);
    assert.equal(normalizeFingerprint(FINGERPRINT), FINGERPRINT);
    assert.equal(normalizeFingerprint(`${FINGERPRINT.slice(7)}=`), FINGERPRINT);
    assert.equal(normalizeFingerprint('MD5:62:2d:9c'), undefined);
  });

  it('reads its settings from the environment with defaults, naming each bad one', () => {
    // Prepare
    const env = {
      PROVISIONER_SSH_KEY_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:carrel/provisioner-key-AbCdEf',
      GATE_CERTIFICATE_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:carrel/gate-cert-AbCdEf',
      EFS_FILE_SYSTEM_ID: 'fs-0123456789abcdef0',
    };

    // Act
    const config = loadProvisionerConfig(env);
    const error = (() => {
      try {
        loadProvisionerConfig({ ...env, EFS_FILE_SYSTEM_ID: 'nfs', GATE_PORT: '70000', WORKSPACE_ADDRESS: 'elsewhere', PROVISIONER_SSH_KEY_SECRET_ARN: '' });
      } catch (e) {
        return e;
      }
    })();

    // Assess
    assert.equal(config.workspaceAddress, 'private');
    assert.deepEqual(
      { ...config.settings },
      {
        fileSystemId: 'fs-0123456789abcdef0', homeUid: 1000, homeGid: 1000, gatePort: 443, gateReportSeconds: 60,
        sshUser: 'carrel-provisioner', sshPort: 22, sudo: true, remoteDir: '/home/carrel-provisioner/incoming',
        runTimeoutMs: 120_000, hostKeyWaitMs: 90_000, hostKeyPollMs: 5_000, gitRemoteTemplate: undefined, dataApiKeyTtlSeconds: 31_536_000,
      },
    );
    assert.ok(error instanceof ConfigError);
    const issues = error.issues.join('\n');
    for (const name of ['PROVISIONER_SSH_KEY_SECRET_ARN', 'EFS_FILE_SYSTEM_ID', 'GATE_PORT', 'WORKSPACE_ADDRESS']) assert.match(issues, new RegExp(`^${name} `, 'm'));
  });
});
