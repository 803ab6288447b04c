import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CertificateRenewalError,
  renewCertificate,
  TransientError,
  type CertificateAuthorityPort,
  type CertificateStorePort,
  type CurrentCertificate,
  type IssuedCertificate,
} from '../../../lambdas/core/index.js';
import { FakeClock, FakeLog, T0 } from '../../support/fakes.js';

const NAME = '*.desk.example.org';
const DAY = 86_400_000;

class FakeStore implements CertificateStorePort {
  saved: IssuedCertificate[] = [];
  constructor(public held: CurrentCertificate) {}
  async current(): Promise<CurrentCertificate> {
    return this.held;
  }
  async save(issued: IssuedCertificate): Promise<void> {
    this.saved.push(issued);
    this.held = { expiresAt: issued.expiresAt, names: issued.names };
  }
}

class FakeAuthority implements CertificateAuthorityPort {
  issued: string[] = [];
  constructor(private readonly make: (name: string) => IssuedCertificate | Error = (name) => cert(name, 90)) {}
  async issue(name: string): Promise<IssuedCertificate> {
    this.issued.push(name);
    const result = this.make(name);
    if (result instanceof Error) throw result;
    return result;
  }
}

function cert(name: string, days: number): IssuedCertificate {
  return { certificate: '-----BEGIN CERTIFICATE-----', privateKey: '-----BEGIN PRIVATE KEY-----', expiresAt: new Date(T0.getTime() + days * DAY), names: [name] };
}

function setup(held: CurrentCertificate, authority = new FakeAuthority()) {
  const store = new FakeStore(held);
  const log = new FakeLog();
  const deps = { store, authority, clock: new FakeClock(T0), log };
  return { store, authority, log, deps };
}

describe('renewCertificate', () => {
  it('issues and stores a certificate when the store holds none', async () => {
    // Prepare
    const { store, authority, log, deps } = setup({ missing: 'the secret holds the deploy placeholder' });
    // Act
    const result = await renewCertificate(deps, { name: NAME });
    // Assess
    assert.equal(result.action, 'renewed');
    assert.match((result as { reason: string }).reason, /no certificate: the secret holds the deploy placeholder/);
    assert.deepEqual(authority.issued, [NAME]);
    assert.equal(store.saved.length, 1);
    assert.equal(log.find('certificate renewed', 'info').length, 1);
    assert.ok(!JSON.stringify(log.entries).includes('BEGIN PRIVATE KEY'), 'no key material in the log');
  });

  it('keeps a certificate that expires after the renewal window, and a second run after a renewal does nothing', async () => {
    // Prepare
    const { store, authority, deps } = setup({ missing: 'empty' });
    await renewCertificate(deps, { name: NAME });
    // Act
    const second = await renewCertificate(deps, { name: NAME });
    // Assess
    assert.deepEqual(second, { action: 'kept', expiresAt: new Date(T0.getTime() + 90 * DAY) });
    assert.equal(authority.issued.length, 1);
    assert.equal(store.saved.length, 1);
  });

  it('renews within renewBeforeDays of expiry (default 30), not before', async () => {
    // Prepare
    const at31 = setup({ expiresAt: new Date(T0.getTime() + 31 * DAY), names: [NAME] });
    const at29 = setup({ expiresAt: new Date(T0.getTime() + 29 * DAY), names: [NAME] });
    const at29Window10 = setup({ expiresAt: new Date(T0.getTime() + 29 * DAY), names: [NAME] });
    // Act
    const kept = await renewCertificate(at31.deps, { name: NAME });
    const renewed = await renewCertificate(at29.deps, { name: NAME });
    const keptShortWindow = await renewCertificate(at29Window10.deps, { name: NAME, renewBeforeDays: 10 });
    // Assess
    assert.equal(kept.action, 'kept');
    assert.equal(renewed.action, 'renewed');
    assert.match((renewed as { reason: string }).reason, /expires at/);
    assert.equal(keptShortWindow.action, 'kept');
  });

  it('renews an expired certificate and one for another name (the desk domain changed)', async () => {
    // Prepare
    const expired = setup({ expiresAt: new Date(T0.getTime() - DAY), names: [NAME] });
    const other = setup({ expiresAt: new Date(T0.getTime() + 80 * DAY), names: ['*.old.example.org'] });
    // Act
    const a = await renewCertificate(expired.deps, { name: NAME });
    const b = await renewCertificate(other.deps, { name: NAME.toUpperCase() });
    // Assess
    assert.match((a as { reason: string }).reason, /expired at/);
    assert.match((b as { reason: string }).reason, /is for \*\.old\.example\.org, not \*\.desk\.example\.org/);
    assert.deepEqual(other.authority.issued, [NAME]);
  });

  it('a failed issuance leaves the store unchanged, logs and rethrows the error as it is', async () => {
    // Prepare
    const failure = new TransientError('Route 53 is throttling');
    const { store, log, deps } = setup({ missing: 'empty' }, new FakeAuthority(() => failure));
    // Act + Assess
    await assert.rejects(renewCertificate(deps, { name: NAME }), (error) => error === failure);
    assert.equal(store.saved.length, 0);
    assert.equal(log.find('certificate renewal failed', 'error').length, 1);
  });

  it('refuses to store a certificate for another name or one already inside the renewal window', async () => {
    // Prepare
    const wrongName = setup({ missing: 'empty' }, new FakeAuthority(() => cert('*.elsewhere.org', 90)));
    const short = setup({ missing: 'empty' }, new FakeAuthority((name) => cert(name, 7)));
    // Act + Assess
    await assert.rejects(renewCertificate(wrongName.deps, { name: NAME }), (e) => e instanceof CertificateRenewalError && /not \*\.desk\.example\.org/.test(e.message));
    await assert.rejects(renewCertificate(short.deps, { name: NAME }), (e) => e instanceof CertificateRenewalError && /within the 30 days/.test(e.message));
    assert.equal(wrongName.store.saved.length + short.store.saved.length, 0);
  });
});
