import { join } from 'node:path';
import type { HostnamesPort } from '../lambdas/core/index.js';
import { readJson, writeFileAtomic } from './files.js';

/**
 * Local stand-in for Route 53: a persisted map from `ws-<id>.app.localhost` to the gate's address.
 * Browsers resolve every `*.localhost` name to loopback; the local front router uses this map to send
 * a workspace host's traffic to its gate.
 */
export class LocalHostnames implements HostnamesPort {
  private records = new Map<string, string>();
  /** One read of the file, shared by concurrent first callers (so none overwrites another's change). */
  private loading?: Promise<void>;
  private readonly file: string;

  constructor(dataDir: string, readonly deskDomain: string) {
    this.file = join(dataDir, 'dns.json');
  }

  async assign(hostname: string, address: string): Promise<void> {
    await this.load();
    this.records.set(hostname.toLowerCase(), address);
    await this.save();
  }

  async release(hostname: string): Promise<void> {
    await this.load();
    if (this.records.delete(hostname.toLowerCase())) await this.save();
  }

  async list(): Promise<readonly string[]> {
    await this.load();
    return [...this.records.keys()];
  }

  /** The address a hostname points at (the router's "DNS lookup"). */
  async resolve(hostname: string): Promise<string | undefined> {
    await this.load();
    return this.records.get(hostname.toLowerCase());
  }

  private load(): Promise<void> {
    this.loading ??= readJson<Record<string, string>>(this.file).then((stored) => {
      this.records = new Map(Object.entries(stored ?? {}));
    });
    return this.loading;
  }

  private async save() {
    await writeFileAtomic(this.file, JSON.stringify(Object.fromEntries(this.records), null, 2));
  }
}
