/**
 * The gates' wildcard certificate (`*.<desk domain>`): renew it when it is missing, does not cover the name,
 * or expires within `renewBeforeDays`. Safe on a schedule and at every deploy: a run that finds a fresh
 * certificate changes nothing, so a second run after a renewal (or a run racing one) does nothing more than
 * a read.
 */
import { CarrelError } from '../errors.js';
import { describeError } from '../lifecycle.js';
import type { Clock, Log } from '../ports.js';

/** What the store holds now: a certificate's expiry and names, or why there is none to keep. */
export type CurrentCertificate =
  | { readonly expiresAt: Date; readonly names: readonly string[] }
  /** Nothing usable (the deploy's placeholder, an unreadable value): the reason, for the log. */
  | { readonly missing: string };

/** A certificate as issued: PEM chain (leaf first), its PEM private key, expiry and names. */
export interface IssuedCertificate {
  readonly certificate: string;
  readonly privateKey: string;
  readonly expiresAt: Date;
  readonly names: readonly string[];
}

/** Where the gates read their certificate (the gate certificate secret on AWS). */
export interface CertificateStorePort {
  current(): Promise<CurrentCertificate>;
  save(issued: IssuedCertificate): Promise<void>;
}

/** A certificate authority that proves control of the name and issues (ACME DNS-01 on AWS). */
export interface CertificateAuthorityPort {
  issue(name: string): Promise<IssuedCertificate>;
}

export interface RenewCertificateDeps {
  readonly store: CertificateStorePort;
  readonly authority: CertificateAuthorityPort;
  readonly clock: Clock;
  readonly log: Log;
}

export interface RenewCertificateInput {
  /** The name the certificate must cover, e.g. `*.desk.example.org`. */
  readonly name: string;
  /** Renew when the certificate expires within this many days. Default 30. */
  readonly renewBeforeDays?: number;
}

export type RenewCertificateResult =
  | { readonly action: 'kept'; readonly expiresAt: Date }
  | { readonly action: 'renewed'; readonly expiresAt: Date; readonly reason: string };

/** The authority issued a certificate that does not do the job (wrong name, already expiring). */
export class CertificateRenewalError extends CarrelError {}

export const DEFAULT_RENEW_BEFORE_DAYS = 30;
const DAY_MS = 86_400_000;

export async function renewCertificate(deps: RenewCertificateDeps, input: RenewCertificateInput): Promise<RenewCertificateResult> {
  const name = input.name.toLowerCase();
  const renewBeforeDays = input.renewBeforeDays ?? DEFAULT_RENEW_BEFORE_DAYS;
  const now = deps.clock.now();
  const renewAt = (expiresAt: Date) => new Date(expiresAt.getTime() - renewBeforeDays * DAY_MS);

  const current = await deps.store.current();
  const reason = whyRenew(current, name, now, renewAt);
  if (!reason) {
    const { expiresAt } = current as { expiresAt: Date };
    deps.log.info('certificate is fresh; nothing to do', { name, expiresAt: expiresAt.toISOString(), renewAfter: renewAt(expiresAt).toISOString() });
    return { action: 'kept', expiresAt };
  }

  deps.log.info('renewing certificate', { name, reason });
  let issued: IssuedCertificate;
  try {
    issued = await deps.authority.issue(name);
  } catch (error) {
    deps.log.error('certificate renewal failed; the current certificate is unchanged', { name, reason, error: describeError(error) });
    throw error;
  }
  // Never store something worse than what is there: a certificate for another name, or one that would
  // be renewed again at once.
  if (!covers(issued.names, name)) {
    throw new CertificateRenewalError(`The certificate authority issued a certificate for ${issued.names.join(', ') || 'no name'}, not ${name}`);
  }
  if (renewAt(issued.expiresAt).getTime() <= now.getTime()) {
    throw new CertificateRenewalError(
      `The certificate authority issued a certificate for ${name} that expires at ${issued.expiresAt.toISOString()}, within the ${renewBeforeDays} days before renewal`,
    );
  }
  await deps.store.save(issued);
  deps.log.info('certificate renewed', { name, reason, expiresAt: issued.expiresAt.toISOString() });
  return { action: 'renewed', expiresAt: issued.expiresAt, reason };
}

function whyRenew(current: CurrentCertificate, name: string, now: Date, renewAt: (expiresAt: Date) => Date): string | undefined {
  if ('missing' in current) return `no certificate: ${current.missing}`;
  if (!covers(current.names, name)) return `the certificate is for ${current.names.join(', ') || 'no name'}, not ${name}`;
  if (current.expiresAt.getTime() <= now.getTime()) return `the certificate expired at ${current.expiresAt.toISOString()}`;
  if (renewAt(current.expiresAt).getTime() <= now.getTime()) return `the certificate expires at ${current.expiresAt.toISOString()}`;
  return undefined;
}

function covers(names: readonly string[], name: string): boolean {
  return names.some((n) => n.toLowerCase() === name);
}
