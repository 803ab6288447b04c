/**
 * Workspace hostnames in Route 53: `ws-<16 random>.<desk domain>` A records in the desk domain's hosted
 * zone, pointing at the workspace's address (the gate), with a short TTL.
 *
 * - assign: one UPSERT (idempotent: a retried assign, or a resumed workspace with a new address, simply
 *   replaces the record).
 * - release: DELETE needs the record's exact current values, so it reads the record first (one
 *   ListResourceRecordSets with MaxItems 1) and deletes what it found; absent is success, and a record
 *   that vanished or changed between the read and the delete is read again.
 * - list: every workspace record under the desk domain (for reconciliation). Route 53 lists records in
 *   reverse-label order, so the desk domain's subtree is contiguous: the listing starts at the desk domain
 *   and stops once it leaves it, even in a zone that holds much else.
 *
 * Throttling (Route 53 allows five requests per second per account), PriorRequestNotComplete, 5xx and
 * timeouts become TransientError once the SDK's own retries are spent.
 */
import {
  ChangeResourceRecordSetsCommand,
  ListResourceRecordSetsCommand,
  type ListResourceRecordSetsCommandInput,
  type ListResourceRecordSetsCommandOutput,
  type ResourceRecordSet,
  type Route53Client,
  type RRType,
} from '@aws-sdk/client-route-53';
import { CarrelError, TransientError } from '../../core/errors.js';
import type { HostnamesPort } from '../../core/ports.js';
import { rethrowAwsError } from './clients/errors.js';

export interface Route53HostnamesOptions {
  /** The hosted zone of the desk domain (with or without the `/hostedzone/` prefix). */
  readonly hostedZoneId: string;
  /** Workspaces are `ws-<label>.<deskDomain>`. */
  readonly deskDomain: string;
  /** TTL of the A records (short: a resumed workspace may get a new address). Default 60. */
  readonly ttlSeconds?: number;
}

/** A hostname or address this adapter refuses to publish. */
export class HostnameError extends CarrelError {}

const WORKSPACE_LABEL = /^ws-[a-z0-9]{16}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** Route 53 answers a DELETE of a record that is not there (any more) with this InvalidChangeBatch message. */
export const NOT_FOUND = /but it was not found/i;
/** ... and a DELETE whose values no longer match (someone UPSERTed in between) with this one. */
export const VALUES_CHANGED = /values provided do not match the current values/i;
const RELEASE_ATTEMPTS = 3;
const ROUTE53_TRANSIENT = new Set(['Throttling', 'ThrottlingException', 'PriorRequestNotComplete']);

export class Route53Hostnames implements HostnamesPort {
  readonly deskDomain: string;
  private readonly hostedZoneId: string;
  private readonly ttlSeconds: number;

  constructor(
    private readonly route53: Route53Client,
    options: Route53HostnamesOptions,
  ) {
    this.deskDomain = options.deskDomain.toLowerCase().replace(/\.$/, '');
    this.hostedZoneId = options.hostedZoneId.replace(/^\/hostedzone\//, '');
    this.ttlSeconds = options.ttlSeconds ?? 60;
  }

  async assign(hostname: string, address: string): Promise<void> {
    const name = this.recordName(hostname);
    const ip = ipOf(address);
    await this.change('UPSERT', { Name: name, Type: 'A', TTL: this.ttlSeconds, ResourceRecords: [{ Value: ip }] }, `Publishing ${hostname}`);
  }

  async release(hostname: string): Promise<void> {
    const name = this.recordName(hostname);
    for (let attempt = 1; ; attempt++) {
      const current = await this.find(name);
      if (!current) return;
      try {
        await this.change('DELETE', current, `Removing ${hostname}`);
        return;
      } catch (error) {
        const messages = invalidChangeMessages(error);
        if (messages.some((m) => NOT_FOUND.test(m))) return;
        if (messages.some((m) => VALUES_CHANGED.test(m)) && attempt < RELEASE_ATTEMPTS) continue;
        throw error;
      }
    }
  }

  async list(): Promise<readonly string[]> {
    const suffix = `.${this.deskDomain}.`;
    const hostnames: string[] = [];
    let start: { name: string; type?: string } | undefined = { name: `${this.deskDomain}.` };
    while (start) {
      const input: ListResourceRecordSetsCommandInput = { HostedZoneId: this.hostedZoneId, StartRecordName: start.name, ...(start.type ? { StartRecordType: start.type as RRType } : {}) };
      const page: ListResourceRecordSetsCommandOutput = await this.send('Listing workspace hostnames', () => this.route53.send(new ListResourceRecordSetsCommand(input)));
      for (const record of page.ResourceRecordSets ?? []) {
        const name = (record.Name ?? '').toLowerCase();
        // Reverse-label order: once a name is outside the desk domain's subtree, so is the rest.
        if (name !== `${this.deskDomain}.` && !name.endsWith(suffix)) return hostnames;
        const label = name.slice(0, -suffix.length);
        if (record.Type === 'A' && WORKSPACE_LABEL.test(label)) hostnames.push(name.slice(0, -1));
      }
      start = page.IsTruncated && page.NextRecordName ? { name: page.NextRecordName, type: page.NextRecordType } : undefined;
    }
    return hostnames;
  }

  /** The exact A record named `name`, or undefined. */
  private async find(name: string): Promise<ResourceRecordSet | undefined> {
    const page = await this.send(`Reading ${name}`, () =>
      this.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: this.hostedZoneId, StartRecordName: name, StartRecordType: 'A', MaxItems: 1 })),
    );
    const record = page.ResourceRecordSets?.[0];
    return record && record.Name?.toLowerCase() === name && record.Type === 'A' ? record : undefined;
  }

  private async change(action: 'UPSERT' | 'DELETE', record: ResourceRecordSet, what: string): Promise<void> {
    const input = {
      HostedZoneId: this.hostedZoneId,
      ChangeBatch: { Comment: `carrel workspace hostname (${action.toLowerCase()})`, Changes: [{ Action: action, ResourceRecordSet: record }] },
    };
    await this.send(what, () => this.route53.send(new ChangeResourceRecordSetsCommand(input)));
  }

  private send<T>(what: string, run: () => Promise<T>): Promise<T> {
    return route53Send(what, run);
  }

  /** `hostname.` (the record name), after checking it is a workspace name in the desk domain. */
  private recordName(hostname: string): string {
    const name = hostname.toLowerCase().replace(/\.$/, '');
    const suffix = `.${this.deskDomain}`;
    if (!name.endsWith(suffix) || !WORKSPACE_LABEL.test(name.slice(0, -suffix.length))) {
      throw new HostnameError(`${hostname} is not a workspace hostname (ws-<16 letters or digits>.${this.deskDomain})`);
    }
    return `${name}.`;
  }
}

/** The IPv4 address of `address` (`10.0.0.9` or `10.0.0.9:443`). */
function ipOf(address: string): string {
  const ip = address.trim().replace(/:\d{1,5}$/, '');
  if (!IPV4.test(ip)) throw new HostnameError(`${address} is not an IPv4 address (with an optional :port)`);
  return ip;
}

/** Run a Route 53 call; throttling, PriorRequestNotComplete, 5xx and timeouts become TransientError. */
export async function route53Send<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    const name = error && typeof error === 'object' ? (error as { name?: string }).name : undefined;
    if (name && ROUTE53_TRANSIENT.has(name)) {
      throw new TransientError(`${what} failed for now: ${(error as Error).message}`, { cause: error });
    }
    rethrowAwsError(error, what);
  }
}

/** The reasons of an InvalidChangeBatch (none for any other error). */
export function invalidChangeMessages(error: unknown): readonly string[] {
  if (!error || typeof error !== 'object' || (error as { name?: string }).name !== 'InvalidChangeBatch') return [];
  const e = error as { messages?: string[]; message?: string };
  return [...(e.messages ?? []), e.message ?? ''];
}
