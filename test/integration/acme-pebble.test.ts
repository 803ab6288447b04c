/**
 * Certificate renewal for real against pebble, the ACME test CA from Let's Encrypt (Debian `pebble`):
 * the real use case, the real acme-client adapter, the real Route 53 challenge and Secrets Manager
 * adapters. Only the two AWS services are mocked (aws-sdk-client-mock), as a small hosted zone and a
 * secret store with Route 53's compare-and-swap rules. A DNS server in this test (node:dgram + dns-packet)
 * answers pebble's TXT queries from the records that zone holds, so pebble validates exactly what the
 * adapter published through Route 53's API.
 *
 * Pebble serves its directory over HTTPS with a certificate made here (openssl); the adapter trusts it
 * through an https agent for pebble's origin only.
 *
 * Needs `pebble` and `openssl` on the PATH (`npm run setup` installs pebble); skipped with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, get as httpsGet } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  InvalidChangeBatch,
  ListResourceRecordSetsCommand,
  Route53Client,
  type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import dnsPacket from 'dns-packet';
import { AcmeDns01Authority, CertificateAuthorityError } from '../../lambdas/adapters/acme-dns01.js';
import { Route53ChallengeRecords } from '../../lambdas/adapters/aws/route53-challenges.js';
import { SecretsManagerAccountKey, SecretsManagerCertificateStore } from '../../lambdas/adapters/aws/secrets-manager-certificates.js';
import { renewCertificate, systemClock } from '../../lambdas/core/index.js';
import { FakeLog } from '../support/fakes.js';

const ZONE = 'Z0123456789ABCDEFGHIJ';
const CERT_ARN = 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:carrel/gate-certificate-AbCdEf';
const KEY_ARN = 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:carrel/acme-account-GhIjKl';
const PLACEHOLDER = JSON.stringify({ certificate: '', privateKey: '', expiresAt: '', placeholder: 'x7Yq' });

function which(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}
const skip = !which('pebble') ? 'pebble is not installed (apt-get install pebble, or npm run setup)' : !which('openssl') ? 'openssl is not installed' : false;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function fetchPem(url: string, agent: Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    httpsGet(url, { agent }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => (response.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: HTTP ${response.statusCode}`))));
    }).on('error', reject);
  });
}

/** Route 53 as far as the adapter uses it: one zone, atomic change batches with CREATE/DELETE rules, GetChange. */
class FakeZone {
  readonly records = new Map<string, ResourceRecordSet>();
  readonly changes: { action: string; name: string; values: string[] }[] = [];
  private changeCount = 0;
  private readonly polled = new Map<string, number>();

  key(name: string, type: string): string {
    return `${name.toLowerCase()}|${type}`;
  }

  apply(changes: readonly { Action?: string; ResourceRecordSet?: ResourceRecordSet }[]) {
    const next = new Map(this.records);
    for (const { Action, ResourceRecordSet: set } of changes) {
      const key = this.key(set!.Name!, set!.Type!);
      const existing = next.get(key);
      const values = (set!.ResourceRecords ?? []).map((r) => r.Value!);
      if (Action === 'CREATE') {
        if (existing) throw invalid(`Tried to create resource record set [name='${set!.Name}', type='${set!.Type}'] but it already exists`);
        next.set(key, structuredClone(set!));
      } else if (Action === 'DELETE') {
        if (!existing) throw invalid(`Tried to delete resource record set [name='${set!.Name}', type='${set!.Type}'] but it was not found`);
        const current = (existing.ResourceRecords ?? []).map((r) => r.Value!);
        if (JSON.stringify(current) !== JSON.stringify(values) || existing.TTL !== set!.TTL) {
          throw invalid(`Tried to delete resource record set [name='${set!.Name}', type='${set!.Type}'] but the values provided do not match the current values`);
        }
        next.delete(key);
      } else {
        next.set(key, structuredClone(set!));
      }
    }
    for (const { Action, ResourceRecordSet: set } of changes) {
      this.changes.push({ action: Action!, name: set!.Name!, values: (set!.ResourceRecords ?? []).map((r) => r.Value!) });
    }
    this.records.clear();
    for (const [key, value] of next) this.records.set(key, value);
    const id = `/change/C${++this.changeCount}`;
    return { ChangeInfo: { Id: id, Status: 'PENDING' as const, SubmittedAt: new Date() } };
  }

  /** PENDING at the first GetChange, INSYNC from the second: the adapter has to wait. */
  status(id: string): 'PENDING' | 'INSYNC' {
    const count = (this.polled.get(id) ?? 0) + 1;
    this.polled.set(id, count);
    return count === 1 ? 'PENDING' : 'INSYNC';
  }

  txt(name: string): string[] {
    const record = this.records.get(this.key(name.endsWith('.') ? name : `${name}.`, 'TXT'));
    return (record?.ResourceRecords ?? []).map((r) => r.Value!.replace(/^"|"$/g, ''));
  }
}

function invalid(message: string) {
  return new InvalidChangeBatch({ message: `[${message}]`, messages: [message], $metadata: { httpStatusCode: 400 } });
}

describe('certificate renewal against pebble (real ACME CA, DNS-01)', { skip }, () => {
  const route53Client = new Route53Client({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  const secretsClient = new SecretsManagerClient({ region: 'eu-west-2', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  const route53 = mockClient(route53Client);
  const secretsManager = mockClient(secretsClient);
  let dir: string;
  let pebble: ChildProcess;
  let dns: dgram.Socket;
  let agent: Agent;
  let directoryUrl: string;
  let managementUrl: string;
  let zone: FakeZone;
  let secrets: Map<string, string>;
  /** Names the DNS server pretends not to know (a challenge that fails). */
  const withheld = new Set<string>();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'carrel-pebble-'));
    const made = spawnSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=pebble test',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ]);
    assert.equal(made.status, 0, made.stderr.toString());
    agent = new Agent({ ca: await readFile(join(dir, 'cert.pem')), keepAlive: false });

    dns = dgram.createSocket('udp4');
    dns.on('message', (message, remote) => {
      const query = dnsPacket.decode(message);
      const question = query.questions?.[0];
      const name = question?.name.toLowerCase() ?? '';
      const values = question?.type === 'TXT' && !withheld.has(name) ? zone.txt(name) : [];
      const response = dnsPacket.encode({
        id: query.id,
        type: 'response',
        flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
        questions: query.questions,
        answers: values.map((value) => ({ type: 'TXT' as const, name: question!.name, ttl: 0, class: 'IN' as const, data: value })),
      });
      dns.send(response, remote.port, remote.address);
    });
    await new Promise<void>((resolve) => dns.bind(0, '127.0.0.1', resolve));
    const dnsPort = dns.address().port;

    const [acmePort, managementPort, httpPort, tlsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    await writeFile(
      join(dir, 'pebble.json'),
      JSON.stringify({
        pebble: {
          listenAddress: `127.0.0.1:${acmePort}`,
          managementListenAddress: `127.0.0.1:${managementPort}`,
          certificate: join(dir, 'cert.pem'),
          privateKey: join(dir, 'key.pem'),
          httpPort,
          tlsPort,
          ocspResponderURL: '',
          externalAccountBindingRequired: false,
        },
      }),
    );
    pebble = spawn('pebble', ['-config', join(dir, 'pebble.json'), '-dnsserver', `127.0.0.1:${dnsPort}`], {
      // No random validation sleeps, no rejected nonces, no reused authorizations: every order validates anew.
      env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`pebble did not start:\n${output}`)), 15_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('ACME directory available')) {
          clearTimeout(timer);
          resolve();
        }
      };
      pebble.stdout!.on('data', onData);
      pebble.stderr!.on('data', onData);
      pebble.on('exit', (code) => reject(new Error(`pebble exited with ${code}:\n${output}`)));
    });
    directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
    managementUrl = `https://127.0.0.1:${managementPort}`;
  });

  after(async () => {
    pebble?.kill();
    dns?.close();
    agent?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function reset() {
    zone = new FakeZone();
    secrets = new Map([
      [CERT_ARN, PLACEHOLDER],
      [KEY_ARN, 'aRandomPlaceholderFromTheDeploy0'],
    ]);
    route53.reset();
    secretsManager.reset();
    route53.on(ChangeResourceRecordSetsCommand).callsFake((input) => zone.apply(input.ChangeBatch.Changes));
    route53.on(ListResourceRecordSetsCommand).callsFake((input) => {
      const record = zone.records.get(zone.key(input.StartRecordName, input.StartRecordType ?? 'TXT'));
      return { ResourceRecordSets: record ? [structuredClone(record)] : [], IsTruncated: false, MaxItems: 1 };
    });
    route53.on(GetChangeCommand).callsFake((input) => ({ ChangeInfo: { Id: input.Id, Status: zone.status(input.Id), SubmittedAt: new Date() } }));
    secretsManager.on(GetSecretValueCommand).callsFake((input) => ({ ARN: input.SecretId, SecretString: secrets.get(input.SecretId) }));
    secretsManager.on(PutSecretValueCommand).callsFake((input) => {
      secrets.set(input.SecretId, input.SecretString);
      return { ARN: input.SecretId, VersionId: 'v' };
    });
  }
  afterEach(() => {
    route53.reset();
    secretsManager.reset();
  });

  function deps(log = new FakeLog()) {
    const records = new Route53ChallengeRecords(route53Client, { hostedZoneId: `/hostedzone/${ZONE}`, pollMs: 20 });
    const authority = new AcmeDns01Authority({
      directoryUrl,
      email: 'platform@example.test',
      accountKey: new SecretsManagerAccountKey(secretsClient, KEY_ARN),
      records,
      httpsAgent: agent,
      poll: { minMs: 100, maxMs: 500, attempts: 30 },
      log,
    });
    return { store: new SecretsManagerCertificateStore(secretsClient, CERT_ARN), authority, clock: systemClock, log };
  }

  it('issues *.<desk domain> through a DNS-01 challenge on Route 53, stores it with its key, and removes the TXT record', async () => {
    // Prepare
    reset();
    const log = new FakeLog();
    // Act
    const result = await renewCertificate(deps(log), { name: '*.desk.example.test' });
    // Assess
    assert.equal(result.action, 'renewed');
    const stored = JSON.parse(secrets.get(CERT_ARN)!) as { certificate: string; privateKey: string; expiresAt: string };
    const chain = stored.certificate.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!;
    const leaf = new X509Certificate(chain[0]!);
    assert.equal(leaf.subjectAltName, 'DNS:*.desk.example.test');
    assert.ok(leaf.checkPrivateKey(createPrivateKey(stored.privateKey)), 'the stored key is the certificate key');
    assert.equal(stored.expiresAt, new Date(leaf.validTo).toISOString());
    // The chain verifies against pebble's own root and intermediate.
    const root = new X509Certificate(await fetchPem(`${managementUrl}/roots/0`, agent));
    const intermediate = new X509Certificate(await fetchPem(`${managementUrl}/intermediates/0`, agent));
    assert.ok(leaf.checkIssued(intermediate) && leaf.verify(intermediate.publicKey), 'the leaf is signed by pebble\'s intermediate');
    assert.ok(intermediate.checkIssued(root) && intermediate.verify(root.publicKey), 'the intermediate is signed by pebble\'s root');
    assert.equal(new X509Certificate(chain[1]!).fingerprint256, intermediate.fingerprint256, 'the stored chain carries the intermediate');
    // The challenge was published as TXT at _acme-challenge.<desk domain>, waited for, and removed.
    assert.deepEqual(
      zone.changes.map((c) => [c.action, c.name]),
      [
        ['CREATE', '_acme-challenge.desk.example.test.'],
        ['DELETE', '_acme-challenge.desk.example.test.'],
      ],
    );
    assert.equal(zone.records.size, 0);
    assert.ok(route53.commandCalls(GetChangeCommand).length >= 2, 'waited for INSYNC');
    // The account key was created on first use, and nothing secret reached the log.
    assert.match(secrets.get(KEY_ARN)!, /-----BEGIN PRIVATE KEY-----/);
    const logged = JSON.stringify(log.entries);
    assert.ok(!logged.includes('PRIVATE KEY') && !logged.includes(stored.privateKey.slice(40, 80)));
  });

  it('a second run sees the fresh certificate and changes nothing', async () => {
    // Prepare
    reset();
    await renewCertificate(deps(), { name: '*.desk.example.test' });
    const before = { certificate: secrets.get(CERT_ARN), changes: zone.changes.length, puts: secretsManager.commandCalls(PutSecretValueCommand).length };
    // Act
    const second = await renewCertificate(deps(), { name: '*.desk.example.test' });
    // Assess
    assert.equal(second.action, 'kept');
    assert.equal(secrets.get(CERT_ARN), before.certificate);
    assert.equal(zone.changes.length, before.changes);
    assert.equal(secretsManager.commandCalls(PutSecretValueCommand).length, before.puts);
  });

  it('two runs at once both pass their challenge (each keeps its own TXT value) and leave no record behind', async () => {
    // Prepare
    reset();
    // Act
    const results = await Promise.all([
      renewCertificate(deps(), { name: '*.twice.example.test' }),
      renewCertificate(deps(), { name: '*.twice.example.test' }),
    ]);
    // Assess
    assert.deepEqual(
      results.map((r) => r.action),
      ['renewed', 'renewed'],
    );
    assert.ok(zone.changes.some((c) => c.action === 'CREATE' && c.values.length === 2), 'both values were published side by side');
    assert.equal(zone.records.size, 0);
    assert.equal(new X509Certificate(JSON.parse(secrets.get(CERT_ARN)!).certificate).subjectAltName, 'DNS:*.twice.example.test');
  });

  it('a challenge the CA cannot validate ends in a clear error, removes the TXT record and keeps the stored value', async () => {
    // Prepare
    reset();
    withheld.add('_acme-challenge.broken.example.test');
    const log = new FakeLog();
    // Act + Assess
    await assert.rejects(
      renewCertificate(deps(log), { name: '*.broken.example.test' }),
      (error: Error) => error instanceof CertificateAuthorityError && /did not issue a certificate for \*\.broken\.example\.test: .*TXT/i.test(error.message),
    );
    assert.deepEqual(
      zone.changes.map((c) => c.action),
      ['CREATE', 'DELETE'],
    );
    assert.equal(zone.records.size, 0);
    assert.equal(secrets.get(CERT_ARN), PLACEHOLDER);
    assert.equal(log.find('certificate renewal failed', 'error').length, 1);
  });
});
