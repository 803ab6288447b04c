/**
 * ACME DNS-01 challenge records in Route 53: TXT values at `_acme-challenge.<desk domain>`.
 *
 * - add: publishes the value and waits until Route 53 reports the change INSYNC (GetChange), i.e. every
 *   authoritative server answers with it, so the CA may look.
 * - remove: takes the value out again; absent is success.
 *
 * Two renewals may run at once (the deploy's run and the daily schedule). Each keeps its own value in the
 * record's value set, and every change is a compare-and-swap: a batch that DELETEs the exact values just
 * read and CREATEs the new set is applied atomically or refused (InvalidChangeBatch), and a refused batch
 * is read and tried again. A plain UPSERT would replace the other run's value and fail its challenge.
 *
 * Throttling, PriorRequestNotComplete, 5xx and timeouts become TransientError (route53Send); a change
 * that is not INSYNC within `maxWaitMs` too.
 */
import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListResourceRecordSetsCommand,
  type Change,
  type ResourceRecordSet,
  type Route53Client,
} from '@aws-sdk/client-route-53';
import { CarrelError, TransientError } from '../../core/errors.js';
import { invalidChangeMessages, NOT_FOUND, route53Send, VALUES_CHANGED } from './route53-hostnames.js';

/** Where DNS-01 challenge values are published (the ACME adapter's port to DNS). */
export interface ChallengeRecords {
  /** Publish `value` at `name` (a TXT record) and resolve once authoritative DNS answers with it. */
  add(name: string, value: string): Promise<void>;
  /** Take `value` away from `name` again (nothing to do when it is not there). */
  remove(name: string, value: string): Promise<void>;
}

export interface Route53ChallengeRecordsOptions {
  /** The hosted zone of the desk domain (with or without the `/hostedzone/` prefix). */
  readonly hostedZoneId: string;
  /** TTL of the TXT record. Default 60 (a CA must not see a stale value after a retry). */
  readonly ttlSeconds?: number;
  /** How often to ask whether a change is INSYNC. Default 5000 ms. */
  readonly pollMs?: number;
  /** How long to wait for INSYNC. Default 180000 ms (Route 53 takes about a minute). */
  readonly maxWaitMs?: number;
  /** Test seam. */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** A record name this adapter refuses to touch (only `_acme-challenge.*` TXT records are its business). */
export class ChallengeRecordError extends CarrelError {}

const CHALLENGE_NAME = /^_acme-challenge\.([a-z0-9-]+\.)+[a-z0-9-]+$/;
const ALREADY_EXISTS = /but it already exists/i;
const CAS_ATTEMPTS = 5;

export class Route53ChallengeRecords implements ChallengeRecords {
  private readonly hostedZoneId: string;
  private readonly ttlSeconds: number;
  private readonly pollMs: number;
  private readonly maxWaitMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly route53: Route53Client,
    options: Route53ChallengeRecordsOptions,
  ) {
    this.hostedZoneId = options.hostedZoneId.replace(/^\/hostedzone\//, '');
    this.ttlSeconds = options.ttlSeconds ?? 60;
    this.pollMs = options.pollMs ?? 5000;
    this.maxWaitMs = options.maxWaitMs ?? 180_000;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  async add(name: string, value: string): Promise<void> {
    const record = recordName(name);
    const quoted = txt(value);
    const changeId = await this.swap(record, `Publishing the ACME challenge at ${name}`, (values) => (values.includes(quoted) ? undefined : [...values, quoted]));
    if (changeId) await this.waitInSync(changeId, name);
  }

  async remove(name: string, value: string): Promise<void> {
    const record = recordName(name);
    const quoted = txt(value);
    await this.swap(record, `Removing the ACME challenge at ${name}`, (values) => (values.includes(quoted) ? values.filter((v) => v !== quoted) : undefined));
  }

  /**
   * Replace the record's values with `next(current values)` as one compare-and-swap; `next` returning
   * undefined means nothing to change. Returns the change id, or undefined when nothing changed.
   */
  private async swap(name: string, what: string, next: (values: readonly string[]) => readonly string[] | undefined): Promise<string | undefined> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.find(name);
      const values = (current?.ResourceRecords ?? []).map((r) => r.Value ?? '');
      const wanted = next(values);
      if (!wanted) return undefined;
      const changes: Change[] = [];
      if (current) changes.push({ Action: 'DELETE', ResourceRecordSet: current });
      if (wanted.length > 0) {
        changes.push({ Action: 'CREATE', ResourceRecordSet: { Name: name, Type: 'TXT', TTL: this.ttlSeconds, ResourceRecords: wanted.map((v) => ({ Value: v })) } });
      }
      try {
        const result = await route53Send(what, () =>
          this.route53.send(
            new ChangeResourceRecordSetsCommand({ HostedZoneId: this.hostedZoneId, ChangeBatch: { Comment: 'carrel ACME DNS-01 challenge', Changes: changes } }),
          ),
        );
        return result.ChangeInfo?.Id;
      } catch (error) {
        // Someone changed the record between the read and this batch: read again.
        const lostRace = invalidChangeMessages(error).some((m) => ALREADY_EXISTS.test(m) || NOT_FOUND.test(m) || VALUES_CHANGED.test(m));
        if (!lostRace) throw error;
        if (attempt >= CAS_ATTEMPTS) throw new TransientError(`${what} failed for now: the record kept changing (${CAS_ATTEMPTS} attempts)`, { cause: error });
      }
    }
  }

  /** The TXT record named `name`, or undefined. */
  private async find(name: string): Promise<ResourceRecordSet | undefined> {
    const page = await route53Send(`Reading ${name}`, () =>
      this.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: this.hostedZoneId, StartRecordName: name, StartRecordType: 'TXT', MaxItems: 1 })),
    );
    const record = page.ResourceRecordSets?.[0];
    return record && record.Name?.toLowerCase() === name && record.Type === 'TXT' ? record : undefined;
  }

  private async waitInSync(changeId: string, name: string): Promise<void> {
    // Counted in polls, not wall time, so the wait is the same however slow each GetChange is.
    for (let waited = 0; ; waited += this.pollMs) {
      const { ChangeInfo } = await route53Send(`Waiting for the ACME challenge at ${name}`, () => this.route53.send(new GetChangeCommand({ Id: changeId })));
      if (ChangeInfo?.Status === 'INSYNC') return;
      if (waited >= this.maxWaitMs) {
        throw new TransientError(`The ACME challenge at ${name} was not in sync on Route 53's servers after ${Math.round(this.maxWaitMs / 1000)} s (change ${changeId})`);
      }
      await this.sleep(this.pollMs);
    }
  }
}

/** `name.` (the record name), after checking it is a challenge name. */
function recordName(name: string): string {
  const lower = name.toLowerCase().replace(/\.$/, '');
  if (!CHALLENGE_NAME.test(lower)) throw new ChallengeRecordError(`${name} is not an ACME challenge name (_acme-challenge.<domain>)`);
  return `${lower}.`;
}

/** A TXT value as Route 53 writes it: in double quotes (a DNS-01 value is base64url: nothing to escape). */
function txt(value: string): string {
  if (!/^[A-Za-z0-9_-]{1,255}$/.test(value)) throw new ChallengeRecordError('an ACME DNS-01 challenge value is base64url text of at most 255 characters');
  return `"${value}"`;
}
