/**
 * provision.sh for real, over SSH: a real OpenSSH server on 127.0.0.1 (its own host keys and config in a
 * temporary folder), node-ssh as the client, the script run with `sudo -n` by a provisioner account (or,
 * where sudo is not installed, by root over SSH: the script itself always runs as root either way).
 * The home is a folder (`--home-dir`, standing in for the EFS access point), system files go under a
 * temporary `--sysroot` instead of / (the same paths below it), and `--no-systemd` writes the units
 * without managing services (CI has no systemd).
 *
 * Needs root (accounts, sshd) and /usr/sbin/sshd; skipped with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { stageProvisionAssets } from '../../assets/provision/stage.js';
import { loadGateConfig } from '../../assets/gate/config.js';
import { SshProvisioning, type ProvisionJob, type SshTarget } from '../../lambdas/adapters/ssh-provisioning.js';
import {
  DATA_API_AUDIENCE,
  loadProvisionAssets,
  makeProvisionHandler,
  provisionJobFor,
  researcherLogin,
  type ProvisionDeps,
  type ProvisionSettings,
} from '../../lambdas/handlers/provision.js';
import { makeAppDeps } from '../handlers/support.js';
import { makeWorkspace, seedWorkspace } from '../support/fakes.js';
import {
  allowSudo,
  createLoginUser,
  fingerprintOf,
  freeId,
  generateKey,
  hasSudo,
  listing,
  parseEnvFile,
  removeUser,
  run,
  sshSkipReason,
  startSshd,
  suffix,
  type Sshd,
} from './support.js';

const skip = sshSkipReason();
const FIXTURES = new URL('./fixtures/', import.meta.url);
const JUPYTER = existsSync('/usr/bin/jupyter-notebook') ? '/usr/bin/jupyter-notebook' : process.execPath;
const SYSTEMD_ANALYZE = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((path) => existsSync(path));

interface Researcher {
  readonly userId: string;
  readonly login: string;
  readonly id: number;
  readonly home: string;
  readonly sysroot: string;
}

describe('provisioning over SSH (real sshd on 127.0.0.1)', { skip }, () => {
  let base: string;
  let sshd: Sshd;
  let privateKey: string;
  let login: string;
  let sudo: boolean;
  let remoteDir: string;
  const cleanups: (() => unknown)[] = [];
  const gateUser = `cgate${suffix()}`;
  const certificate = { certificate: '', privateKey: '' };

  /** A researcher account name, uid/gid, home folder and sysroot of their own (accounts are machine-wide). */
  async function researcher(options: { homeOwner?: 'researcher' | 'root' } = {}): Promise<Researcher> {
    const login = `cres${suffix()}`;
    const id = freeId();
    const home = await mkdtemp(join(base, 'home-'));
    const sysroot = await mkdtemp(join(base, 'sysroot-'));
    await chmod(sysroot, 0o755);
    if ((options.homeOwner ?? 'researcher') === 'researcher') {
      // what the EFS access point gives: the root directory owned by the POSIX user, 0700
      await chown(home, id, id);
      await chmod(home, 0o700);
    }
    cleanups.push(() => removeUser(login));
    return { userId: `${login}@example.org`, login, id, home, sysroot };
  }

  function settingsFor(r: Researcher, overrides: Partial<ProvisionSettings> = {}): ProvisionSettings {
    return {
      fileSystemId: 'fs-0123456789abcdef0',
      homeUid: r.id,
      homeGid: r.id,
      gatePort: 8443,
      gateReportSeconds: 60,
      sshUser: login,
      sshPort: sshd.port,
      sudo,
      remoteDir,
      runTimeoutMs: 60_000,
      hostKeyWaitMs: 1_000,
      hostKeyPollMs: 100,
      gitRemoteTemplate: 'https://git.example.org/carrel/{analysisId}.git',
      dataApiKeyTtlSeconds: 3600,
      // test mode; node and jupyter where they are here, so the units name real programs
      scriptOptions: ['--home-dir', r.home, '--sysroot', r.sysroot, '--gate-user', gateUser, '--no-systemd', '--node', process.execPath, '--jupyter', JUPYTER],
      ...overrides,
    };
  }

  async function depsFor(r: Researcher, overrides: Partial<ProvisionDeps> = {}, settings?: Partial<ProvisionSettings>) {
    const app = await makeAppDeps();
    const assetsDir = join(base, 'assets');
    const deps: ProvisionDeps = {
      ...app,
      hostKeys: { fingerprints: async () => sshd.fingerprints },
      remote: new SshProvisioning({ connectWaitMs: 5_000, connectRetryMs: 200 }),
      secrets: { sshPrivateKey: async () => privateKey, gateCertificate: async () => certificate },
      assets: () => loadProvisionAssets(assetsDir),
      settings: settingsFor(r, settings),
      sleep: async () => undefined,
      ...overrides,
    };
    return { app, deps };
  }

  function provisioningRecord(r: Researcher) {
    return makeWorkspace('provisioning', { analysisId: 'demo', userId: r.userId, address: '127.0.0.1:8443' });
  }

  function target(fingerprints: readonly string[], key = privateKey): SshTarget {
    return { host: '127.0.0.1', port: sshd.port, username: login, privateKey: key, hostKeyFingerprints: fingerprints };
  }

  const accepted = () => (sshd.log().match(/Accepted publickey/g) ?? []).length;

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'carrel-provision-'));
    // the provisioner account must reach its upload folder below this one
    await chmod(base, 0o755);
    cleanups.push(() => removeUser(gateUser));
    await stageProvisionAssets(join(base, 'assets'));
    certificate.certificate = await readFile(new URL('test-gate-cert.pem', FIXTURES), 'utf8');
    certificate.privateKey = await readFile(new URL('test-gate-key.pem', FIXTURES), 'utf8');
    privateKey = await readFile(generateKey(join(base, 'provisioner_key'), 'ed25519', 'carrel-provisioner@test'), 'utf8');
    const publicKey = await readFile(join(base, 'provisioner_key.pub'), 'utf8');

    sudo = hasSudo();
    if (sudo) {
      // as on a workspace: its own account, allowed to run exactly <remoteDir>/provision.sh as root
      login = `cprov${suffix()}`;
      const home = join(base, 'provisioner-home');
      remoteDir = join(home, 'incoming');
      sshd = await startSshd(join(base, 'sshd'), [login]);
      cleanups.push(() => sshd.stop());
      const account = await createLoginUser(login, home, join(base, 'sshd', 'authorized_keys'), publicKey);
      cleanups.push(() => account.remove());
      const dropIn = await allowSudo(login, `${remoteDir}/provision.sh`);
      cleanups.push(() => dropIn.remove());
    } else {
      // No sudo on this machine (a bare Debian CI image): log in as root instead; same script, same root.
      login = 'root';
      remoteDir = join(base, 'root-incoming');
      sshd = await startSshd(join(base, 'sshd'), ['root']);
      cleanups.push(() => sshd.stop());
      await writeFile(join(base, 'sshd', 'authorized_keys', 'root'), publicKey, { mode: 0o600 });
    }
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        process.stderr.write(`cleanup failed: ${(error as Error).message}\n`);
      }
    }
    if (base) await rm(base, { recursive: true, force: true });
  });

  describe('the script over SSH', () => {
    let r: Researcher;
    let job: ProvisionJob;
    let app: Awaited<ReturnType<typeof makeAppDeps>>;

    before(async () => {
      r = await researcher();
      const made = await depsFor(r);
      app = made.app;
      // one job for both runs: the same inputs (the agent token in it is signed once)
      job = await provisionJobFor(made.deps, provisioningRecord(r));
    });

    it(`first run with the right host key fills the blank project and installs the gate (${hasSudo() ? 'sudo -n as the provisioner account' : 'as root: sudo is not installed'})`, async () => {
      // Act
      const result = await new SshProvisioning().provision(target(sshd.fingerprints), job);

      // Assess: the outcome and the changes it reported
      assert.equal(result.ok, true, JSON.stringify(result));
      assert.ok(result.ok);
      assert.match(result.summary, /^carrel-provision: ok, \d+ changes/);
      for (const change of [`created user ${r.login} (${r.id}:${r.id})`, 'added README.md', 'added notebooks/start.ipynb', 'added .carrel/data-api-key', 'set the git remote origin']) {
        assert.ok(result.changes.includes(change), `missing change "${change}" in ${JSON.stringify(result.changes)}`);
      }
      // the researcher's account has the access point's uid/gid and the home
      assert.equal(run('getent', ['passwd', r.login]).trim(), `${r.login}:x:${r.id}:${r.id}:carrel researcher:${r.home}:/bin/bash`);
      // the blank project, owned by the researcher
      const owned = async (rel: string, mode: number) => {
        const st = await stat(join(r.home, rel));
        assert.equal(st.uid, r.id, `${rel} owner`);
        assert.equal(st.gid, r.id, `${rel} group`);
        assert.equal(st.mode & 0o777, mode, `${rel} mode ${(st.mode & 0o777).toString(8)}`);
      };
      await owned('README.md', 0o644);
      await owned('.gitignore', 0o644);
      await owned('notebooks/start.ipynb', 0o644);
      await owned('.carrel', 0o700);
      await owned('.carrel/data-api-key', 0o600);
      assert.match(await readFile(join(r.home, 'README.md'), 'utf8'), /^# demo\n/);
      const notebook = JSON.parse(await readFile(join(r.home, 'notebooks/start.ipynb'), 'utf8'));
      assert.equal(notebook.nbformat, 4);
      assert.match(await readFile(join(r.home, '.gitignore'), 'utf8'), /^\.carrel\/$/m);
      // the synthetic-data key: a desk-signed token for this analysis and researcher
      const dataKey = (await readFile(join(r.home, '.carrel/data-api-key'), 'utf8')).trim();
      assert.deepEqual(
        { aud: decodeJwt(dataKey).aud, sub: decodeJwt(dataKey).sub, ana: decodeJwt(dataKey).ana },
        { aud: DATA_API_AUDIENCE, sub: r.userId, ana: 'demo' },
      );
      // a git repository with its remote
      assert.equal(run('git', ['-c', 'safe.directory=*', '-C', r.home, 'remote', 'get-url', 'origin']).trim(), 'https://git.example.org/carrel/demo.git');
      await owned('.git', 0o755);

      // the gate's files: root-only secrets, a valid environment for the gate
      const sys = (rel: string) => join(r.sysroot, rel);
      for (const [rel, mode] of [['etc/carrel/gate.env', 0o600], ['etc/carrel/tool.env', 0o600], ['etc/carrel/tls/cert.pem', 0o600], ['etc/carrel/tls/key.pem', 0o600], ['etc/carrel/tls', 0o700], ['opt/carrel/gate/gate.mjs', 0o644]] as const) {
        const st = await stat(sys(rel));
        assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [0, 0, mode], rel);
      }
      assert.equal(await readFile(sys('etc/carrel/tls/key.pem'), 'utf8'), certificate.privateKey);
      const gateEnv = parseEnvFile(await readFile(sys('etc/carrel/gate.env'), 'utf8'));
      const toolEnv = parseEnvFile(await readFile(sys('etc/carrel/tool.env'), 'utf8'));
      assert.match(toolEnv.JUPYTER_TOKEN ?? '', /^[0-9a-f]{48}$/);
      assert.equal(gateEnv.CARREL_GATE_UPSTREAM_AUTH, `token ${toolEnv.JUPYTER_TOKEN}`);
      assert.equal(gateEnv.CARREL_GATE_UPSTREAM, 'http://127.0.0.1:8888');
      const config = loadGateConfig({ ...gateEnv, CARREL_GATE_TLS_CERT: sys('etc/carrel/tls/cert.pem'), CARREL_GATE_TLS_KEY: sys('etc/carrel/tls/key.pem') });
      assert.equal(config.hostname, 'ws-alicelabel00000.app.test');
      assert.equal(config.port, 8443);
      assert.equal(config.deskOrigin, 'https://app.test');
      assert.equal(config.activityUrl?.href, 'https://app.test/api/agent/activity');
      assert.equal(config.publicKeyPem.trim(), (await app.signer.publicKeyPem()).trim());
      const agent = await app.verifier.verifyAgentToken(config.agentToken!);
      assert.equal(agent.userId, r.userId);
      // the units: the tool as the researcher on loopback, the gate as its own user; never the token
      const toolUnit = await readFile(sys('etc/systemd/system/carrel-tool.service'), 'utf8');
      const gateUnit = await readFile(sys('etc/systemd/system/carrel-gate.service'), 'utf8');
      assert.match(toolUnit, new RegExp(`^User=${r.login}$`, 'm'));
      assert.match(toolUnit, /--ip=127\.0\.0\.1 --port=8888/);
      assert.match(gateUnit, new RegExp(`^User=${gateUser}$`, 'm'));
      assert.match(gateUnit, /^LoadCredential=tls-key:\/etc\/carrel\/tls\/key\.pem$/m);
      assert.ok(!toolUnit.includes(toolEnv.JUPYTER_TOKEN!) && !gateUnit.includes(toolEnv.JUPYTER_TOKEN!), 'a unit file (world-readable) holds the token');
      if (SYSTEMD_ANALYZE) {
        // systemd's own checker (no running systemd needed): every directive known and well-formed
        const units = ['carrel-tool.service', 'carrel-gate.service'].map((unit) => sys(`etc/systemd/system/${unit}`));
        const verify = spawnSync(SYSTEMD_ANALYZE, ['verify', ...units], { encoding: 'utf8' });
        assert.equal(`${verify.stdout}${verify.stderr}`.trim(), '', 'systemd-analyze verify found problems');
      }
      // the metadata firewall (test mode: written down, this machine's firewall untouched): every uid but
      // root's and the gate's is refused 169.254.169.254 and fd00:ec2::254
      const gateUid = run('id', ['-u', gateUser]).trim();
      const rules = await stat(sys('etc/carrel/imds-firewall.rules'));
      assert.deepEqual([rules.uid, rules.gid, rules.mode & 0o777], [0, 0, 0o644]);
      const firewall = (await readFile(sys('etc/carrel/imds-firewall.rules'), 'utf8')).split('\n');
      const owners = `-m owner ! --uid-owner 0 -m owner ! --uid-owner ${gateUid}`;
      assert.ok(firewall.includes(`iptables -I OUTPUT 1 -d 169.254.169.254/32 ${owners} -m comment --comment carrel-imds -j REJECT`), firewall.join('\n'));
      assert.ok(firewall.includes(`ip6tables -I OUTPUT 1 -d fd00:ec2::254/128 ${owners} -m comment --comment carrel-imds -j REJECT`), firewall.join('\n'));
      assert.ok(firewall.includes(`    ip daddr 169.254.169.254 meta skuid { 0, ${gateUid} } accept`), 'the nftables form, for images without iptables');
      assert.ok(result.changes.includes(`wrote ${sys('etc/carrel/imds-firewall.rules')}`));
      assert.ok(!result.changes.some((c) => /iptables:|nft:/.test(c)), 'no firewall change in test mode');
      // the uploaded files (secrets among them) do not stay on the host
      assert.equal(existsSync(remoteDir), false);
    });

    it('a second run with the same inputs changes nothing (home and system files: same modes, owners, mtimes, hashes)', async () => {
      // Prepare
      const home = await listing(r.home);
      const sys = await listing(r.sysroot);

      // Act
      const result = await new SshProvisioning().provision(target(sshd.fingerprints), job);

      // Assess
      assert.equal(result.ok, true, JSON.stringify(result));
      assert.ok(result.ok);
      assert.deepEqual(result.changes, []);
      assert.equal(result.summary, 'carrel-provision: ok, nothing changed (services not managed: --no-systemd)');
      assert.deepEqual(await listing(r.home), home);
      assert.deepEqual(await listing(r.sysroot), sys);
    });

    it('a host key other than the reported ones is refused before anything runs', async () => {
      // Prepare: the fingerprint of some other key, as if the console had reported another host
      const other = fingerprintOf(`${generateKey(join(base, `other_host_key_${suffix()}`), 'ed25519')}.pub`);
      const home = await listing(r.home);
      const sys = await listing(r.sysroot);
      const logins = accepted();

      // Act
      const result = await new SshProvisioning().provision(target([other]), job);

      // Assess
      assert.equal(result.ok, false);
      assert.ok(!result.ok);
      assert.equal(result.stage, 'host-key');
      assert.ok(sshd.fingerprints.includes(result.presentedFingerprint!), 'reports the key the server presented');
      assert.match(result.reason, /other than the ones it reported at boot; refusing to connect/);
      assert.equal(accepted(), logins, 'no login happened');
      assert.equal(existsSync(remoteDir), false, 'nothing was uploaded');
      assert.deepEqual(await listing(r.home), home);
      assert.deepEqual(await listing(r.sysroot), sys);
    });

    it("refuses to start when given no fingerprint at all, and reports a key the host does not accept", async () => {
      // Prepare
      const stranger = await readFile(generateKey(join(base, `stranger_${suffix()}`), 'ed25519'), 'utf8');

      // Act
      const none = await new SshProvisioning().provision(target([]), job);
      const refused = await new SshProvisioning().provision(target(sshd.fingerprints, stranger), job);

      // Assess
      assert.deepEqual(none.ok ? undefined : [none.stage, none.reason], ['host-key', 'no host key fingerprint to verify the workspace against']);
      assert.deepEqual(refused.ok ? undefined : [refused.stage, refused.reason], ['authenticate', `the workspace refused the provisioner's SSH key for ${login}`]);
    });
  });

  describe('time limits', () => {
    /** A stand-in script (same name, so the sudoers rule applies) that never finishes on its own. */
    const hanging = (overrides: Partial<ProvisionJob>): ProvisionJob => ({
      remoteDir,
      files: [{ path: 'provision.sh', content: '#!/bin/bash\necho "changed: started"\nexec sleep 60\n', mode: 0o700 }],
      script: 'provision.sh',
      args: [],
      sudo,
      timeoutMs: 2_000,
      ...overrides,
    });

    it('stops a run that outlives its time limit and says so', async () => {
      // Act
      const started = Date.now();
      const result = await new SshProvisioning().provision(target(sshd.fingerprints), hanging({}));

      // Assess
      assert.deepEqual(result.ok ? undefined : [result.stage, result.reason, result.changes], ['timeout', 'provisioning took longer than 2 s and was stopped', ['started']]);
      assert.ok(Date.now() - started < 10_000, 'stopped by the remote timeout, not the client backstop');
      assert.equal(existsSync(remoteDir), false);
    });

    it('does not start a run that could not finish before the deadline', async () => {
      // Act
      const result = await new SshProvisioning().provision(target(sshd.fingerprints), hanging({ timeoutMs: 60_000, deadlineAt: Date.now() + 5_000 }));

      // Assess
      assert.deepEqual(result.ok ? undefined : [result.stage, result.reason], ['timeout', 'too little time was left to run the provisioning script']);
      assert.equal(existsSync(remoteDir), false);
    });
  });

  describe('the provisioner handler over SSH', () => {
    it('provisions a provisioning workspace and reports tool-ready; a researcher file already in the home is kept', async () => {
      // Prepare
      const r = await researcher();
      await writeFile(join(r.home, 'README.md'), 'my own notes\n');
      await chown(join(r.home, 'README.md'), r.id, r.id);
      let polls = 0;
      const { app, deps } = await depsFor(r, {
        // the console shows nothing for the first two looks (the instance is still booting)
        hostKeys: { fingerprints: async () => (++polls < 3 ? [] : sshd.fingerprints) },
      });
      const ws = seedWorkspace(app, provisioningRecord(r));

      // Act
      const outcome = await makeProvisionHandler(deps)({ analysisId: ws.analysisId, userId: ws.userId, generation: ws.generation });

      // Assess
      assert.equal(outcome.outcome, 'ready', JSON.stringify(outcome));
      assert.equal(polls, 3);
      assert.equal(app.store.peek(ws)?.state, 'ready');
      assert.equal(await readFile(join(r.home, 'README.md'), 'utf8'), 'my own notes\n');
      assert.ok(existsSync(join(r.home, 'notebooks/start.ipynb')));
      assert.equal(researcherLogin(r.userId), r.login);
    });

    it("reports failed with the script's own reason when the script fails", async () => {
      // Prepare: a home the researcher does not own (a wrong access point POSIX user)
      const r = await researcher({ homeOwner: 'root' });
      const { app, deps } = await depsFor(r);
      const ws = seedWorkspace(app, provisioningRecord(r));

      // Act
      const outcome = await makeProvisionHandler(deps)({ analysisId: ws.analysisId, userId: ws.userId, generation: ws.generation });

      // Assess
      const reason = `Provisioning failed: the home ${r.home} belongs to uid 0, not ${r.id}`;
      assert.deepEqual(outcome, { outcome: 'failed', reason });
      const after = app.store.peek(ws);
      assert.equal(after?.state, 'failed');
      assert.equal(after?.reason, reason);
      assert.equal(app.compute.instances.get(ws.instanceId!)?.state, 'terminated');
    });

    it('reports failed when the host presents a key it did not report', async () => {
      // Prepare
      const r = await researcher();
      const other = fingerprintOf(`${generateKey(join(base, `other_${suffix()}`), 'ecdsa')}.pub`);
      const { app, deps } = await depsFor(r, { hostKeys: { fingerprints: async () => [other] } });
      const ws = seedWorkspace(app, provisioningRecord(r));
      const logins = accepted();

      // Act
      const outcome = await makeProvisionHandler(deps)({ analysisId: ws.analysisId, userId: ws.userId, generation: ws.generation });

      // Assess
      assert.equal(outcome.outcome, 'failed');
      assert.match(app.store.peek(ws)?.reason ?? '', /^Provisioning failed: the workspace presented an SSH host key \(SHA256:[A-Za-z0-9+/]{43}\) other than/);
      assert.equal(accepted(), logins);
      assert.equal(spawnSync('getent', ['passwd', r.login]).status, 2, 'no account was created');
    });
  });
});
