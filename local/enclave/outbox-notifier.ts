/** Mail in local mode: one JSON file per message in an outbox folder, which the UI (and tests) can read. */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Notifier, RunNotice } from '../../lambdas/core/runs/ports.js';
import type { Run } from '../../lambdas/core/runs/run.js';
import type { Clock } from '../../lambdas/core/ports.js';

export interface OutboxMessage {
  readonly at: string;
  readonly notice: RunNotice;
  readonly analysisId: string;
  readonly runId: string;
  readonly to: readonly string[];
  readonly message: string;
  readonly link?: string;
}

export class OutboxNotifier implements Notifier {
  private seq = 0;
  constructor(
    readonly folder: string,
    private readonly clock: Clock,
  ) {}

  async notify(notice: RunNotice, run: Run, detail: { to: readonly string[]; message: string; link?: string }): Promise<void> {
    await mkdir(this.folder, { recursive: true });
    const at = this.clock.now().toISOString();
    const mail: OutboxMessage = { at, notice, analysisId: run.analysisId, runId: run.runId, ...detail };
    const name = `${at.replace(/[:.]/g, '-')}-${String(++this.seq).padStart(4, '0')}-${notice}-${run.runId}.json`;
    await writeFile(join(this.folder, name), JSON.stringify(mail, null, 1), { flag: 'wx' });
  }

  /** Every message, oldest first. */
  async list(): Promise<OutboxMessage[]> {
    let names: string[];
    try {
      names = (await readdir(this.folder)).filter((n) => n.endsWith('.json')).sort();
    } catch {
      return [];
    }
    return Promise.all(names.map(async (n) => JSON.parse(await readFile(join(this.folder, n), 'utf8')) as OutboxMessage));
  }
}
