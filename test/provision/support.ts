/**
 * A real OpenSSH server on 127.0.0.1 for the provisioning tests, with everything in a temporary folder:
 * its own host keys, sshd_config, pid file and authorized keys (nothing under /etc/ssh is touched). Plus
 * the accounts the tests need (created with useradd, unlocked with `usermod -p '*'`, removed afterwards),
 * a sudoers drop-in when sudo is installed, and a listing of a tree (modes, owners, sizes, mtimes,
 * hashes) to prove a run changed nothing.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';

export const SSHD = '/usr/sbin/sshd';

/** Why the SSH tests cannot run here, or undefined when they can (root, sshd and ssh-keygen present). */
export function sshSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (creates users and runs sshd); CI runs the tests as root';
  if (!existsSync(SSHD)) return `needs OpenSSH's server at ${SSHD} (local/setup.sh installs openssh-server)`;
  if (spawnSync('ssh-keygen', ['-?']).error) return 'needs ssh-keygen (openssh-client)';
  return undefined;
}

/** `sudo` is installed: the provisioner logs in as its own user and runs the script with `sudo -n`. */
export function hasSudo(): boolean {
  return existsSync('/usr/bin/sudo') && !spawnSync('/usr/bin/sudo', ['-V'], { stdio: 'ignore' }).error;
}

export function run(command: string, args: readonly string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A short random suffix for account names (they are global to the machine). */
export function suffix(): string {
  return randomBytes(3).toString('hex');
}

/** A uid/gid in 50000-59999 that no user or group has. */
export function freeId(): number {
  for (let i = 0; i < 200; i++) {
    const id = 50_000 + Math.floor(Math.random() * 10_000);
    const user = spawnSync('getent', ['passwd', String(id)]);
    const group = spawnSync('getent', ['group', String(id)]);
    if (user.status === 2 && group.status === 2) return id;
  }
  throw new Error('no free uid/gid found');
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `SHA256:...` fingerprint of a public key file, as ssh-keygen (and so cloud-init) prints it. */
export function fingerprintOf(publicKeyFile: string): string {
  const match = /SHA256:[A-Za-z0-9+/]{43}/.exec(run('ssh-keygen', ['-l', '-E', 'sha256', '-f', publicKeyFile]));
  if (!match) throw new Error(`no fingerprint for ${publicKeyFile}`);
  return match[0];
}

/** Generate an OpenSSH key pair; returns the private key file path. */
export function generateKey(path: string, type: 'ed25519' | 'ecdsa' | 'rsa', comment = 'carrel-test'): string {
  run('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', comment, '-f', path]);
  return path;
}

export interface Sshd {
  readonly port: number;
  /** Fingerprints of the server's host keys (what the console would report). */
  readonly fingerprints: readonly string[];
  /** Everything sshd logged so far (`-e`: to stderr). */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Start `sshd -D -e` on 127.0.0.1 with its own host keys and config in `dir`, accepting public-key logins
 * of `allowUsers` whose keys are in `<dir>/authorized_keys/<user>`.
 */
export async function startSshd(dir: string, allowUsers: readonly string[]): Promise<Sshd> {
  await mkdir(join(dir, 'authorized_keys'), { recursive: true });
  // Privilege separation needs this empty directory; /run is a tmpfs that a fresh machine may lack it on.
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKeys = [generateKey(join(dir, 'ssh_host_ed25519_key'), 'ed25519', 'root@test'), generateKey(join(dir, 'ssh_host_ecdsa_key'), 'ecdsa', 'root@test')];
  const port = await freePort();
  const config = [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    ...hostKeys.map((key) => `HostKey ${key}`),
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}/%u`,
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    // the temporary folder is not root-only all the way up
    'StrictModes no',
    'PermitRootLogin prohibit-password',
    `AllowUsers ${allowUsers.join(' ')}`,
    'X11Forwarding no',
    'AllowTcpForwarding no',
    'Subsystem sftp internal-sftp',
    'LogLevel VERBOSE',
    '',
  ].join('\n');
  const configFile = join(dir, 'sshd_config');
  await writeFile(configFile, config, { mode: 0o600 });
  run(SSHD, ['-t', '-f', configFile]);

  let output = '';
  const child: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let running = true;
  void exited.then(() => (running = false));

  const deadline = Date.now() + 10_000;
  for (;;) {
    if (!running) throw new Error(`sshd exited at start:\n${output}`);
    if (await canConnect(port)) break;
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new Error(`sshd did not listen on 127.0.0.1:${port} within 10 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    port,
    fingerprints: hostKeys.map((key) => fingerprintOf(`${key}.pub`)),
    log: () => output,
    async stop() {
      if (!running) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Creates a login account whose key is authorized for `sshd`; `remove()` deletes it again. */
export async function createLoginUser(name: string, home: string, authorizedKeysDir: string, publicKey: string): Promise<{ remove(): void }> {
  await mkdir(home, { recursive: true });
  run('useradd', ['--no-create-home', '--home-dir', home, '--shell', '/bin/bash', '--user-group', name]);
  // a new account is locked ('!'), and sshd refuses locked accounts even for keys
  run('usermod', ['-p', '*', name]);
  run('chown', [`${name}:${name}`, home]);
  await chmod(home, 0o700);
  await writeFile(join(authorizedKeysDir, name), publicKey, { mode: 0o644 });
  return { remove: () => removeUser(name) };
}

/** Delete a user (and its group, if useradd made one) if it exists; never throws. */
export function removeUser(name: string): void {
  if (spawnSync('getent', ['passwd', name]).status === 0) spawnSync('userdel', [name], { stdio: 'ignore' });
  if (spawnSync('getent', ['group', name]).status === 0) spawnSync('groupdel', [name], { stdio: 'ignore' });
}

/** A sudoers drop-in letting `user` run exactly `command` (any arguments) as root without a password. */
export async function allowSudo(user: string, command: string): Promise<{ remove(): Promise<void> }> {
  const file = `/etc/sudoers.d/carrel-test-${user}`;
  await writeFile(file, `Defaults:${user} !requiretty\n${user} ALL=(root) NOPASSWD: ${command}\n`, { mode: 0o440 });
  if (existsSync('/usr/sbin/visudo')) {
    const check = spawnSync('/usr/sbin/visudo', ['-c', '-q', '-f', file], { encoding: 'utf8' });
    if (check.status !== 0) {
      await rm(file, { force: true });
      throw new Error(`the sudoers drop-in is invalid: ${check.stderr}`);
    }
  }
  return { remove: () => rm(file, { force: true }) };
}

/**
 * Every entry under `root` (and `root` itself): type, mode, owner, size, mtime (ns), and the sha256 of
 * files or the target of links. Two equal listings mean nothing was written, chmod-ed or touched.
 */
export async function listing(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function visit(path: string, rel: string): Promise<void> {
    const st = await lstat(path, { bigint: true });
    const kind = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFile() ? 'f' : 'o';
    let content = '';
    if (kind === 'f') content = createHash('sha256').update(await readFile(path)).digest('hex');
    if (kind === 'l') content = await readlink(path);
    out[rel || '.'] = `${kind} ${(st.mode & 0o7777n).toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeNs} ${content}`;
    if (kind === 'd') for (const name of (await readdir(path)).sort()) await visit(join(path, name), rel ? `${rel}/${name}` : name);
  }
  await visit(root, '');
  return out;
}

/** Parse an EnvironmentFile the way systemd does for the lines provision.sh writes (NAME=value, NAME='value'). */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!match) throw new Error(`not an environment line: ${line}`);
    const value = match[2]!;
    env[match[1]!] = value.startsWith("'") && value.endsWith("'") ? value.slice(1, -1) : value;
  }
  return env;
}
