/**
 * Automated disclosure checks on a run's collected outputs, read from the stored outputs archive (what
 * reviewers see and what is released): every CSV cell holding a count below the threshold (1 up to
 * threshold - 1; zero discloses nothing) is flagged for the output reviewer. A first, deliberately simple
 * rule; reviewers still look at everything.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import type { DisclosureChecker } from '../core/runs/deps.js';
import type { ObjectStore } from '../core/runs/ports.js';
import type { DisclosureFinding, Run } from '../core/runs/run.js';

export interface SmallCountOptions {
  /** Counts below this are flagged. @default 10 */
  readonly threshold?: number;
  /** Larger CSV files are flagged as unchecked rather than read. @default 10 MiB */
  readonly maxCsvBytes?: number;
}

/** Split one CSV line, honouring double quotes (RFC 4180 style, no embedded newlines). */
export function csvCells(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') (cell += '"'), i++;
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') cells.push(cell), (cell = '');
    else cell += c;
  }
  cells.push(cell);
  return cells;
}

/** Small-count findings of one CSV text. */
export function smallCounts(path: string, text: string, threshold: number): DisclosureFinding[] {
  const findings: DisclosureFinding[] = [];
  const lines = text.split(/\r?\n/).filter((l) => l.length > 0);
  const header = lines[0] ? csvCells(lines[0]) : [];
  const hasHeader = header.some((h) => h.trim() !== '' && !/^-?\d+(\.\d+)?$/.test(h.trim()));
  lines.forEach((line, index) => {
    if (index === 0 && hasHeader) return;
    csvCells(line).forEach((raw, column) => {
      const value = raw.trim();
      if (!/^\d+$/.test(value)) return;
      const n = Number(value);
      if (n > 0 && n < threshold) {
        const name = hasHeader && header[column] ? ` (${header[column]!.trim()})` : '';
        findings.push({ path, where: `row ${index + 1}, column ${column + 1}${name}`, rule: 'small-count', detail: `${n} is below ${threshold}` });
      }
    });
  });
  return findings;
}

export class SmallCountChecker implements DisclosureChecker {
  private readonly threshold: number;
  private readonly maxCsvBytes: number;
  constructor(private readonly objects: ObjectStore, options: SmallCountOptions = {}) {
    this.threshold = options.threshold ?? 10;
    this.maxCsvBytes = options.maxCsvBytes ?? 10 * 1024 * 1024;
  }

  async check(run: Run): Promise<readonly DisclosureFinding[]> {
    if (!run.objects.outputsKey) return [];
    const findings: DisclosureFinding[] = [];
    const reads: Promise<void>[] = [];
    const parser = new tar.Parser({
      onReadEntry: (entry) => {
        const path = entry.path.replace(/^\.\//, '');
        if (entry.type !== 'File' || !path.toLowerCase().endsWith('.csv')) return entry.resume();
        if (entry.size > this.maxCsvBytes) {
          findings.push({ path, where: 'whole file', rule: 'unchecked', detail: `larger than ${this.maxCsvBytes} bytes; not checked automatically` });
          return entry.resume();
        }
        const chunks: Buffer[] = [];
        reads.push(
          new Promise<void>((resolve, reject) => {
            entry.on('data', (c: Buffer) => chunks.push(c));
            entry.on('end', () => {
              findings.push(...smallCounts(path, Buffer.concat(chunks).toString('utf8'), this.threshold));
              resolve();
            });
            entry.on('error', reject);
          }),
        );
      },
    });
    // The outputs as collected (their pinned revision): what reviewers see and what is released.
    await pipeline((await this.objects.get(run.objects.outputsKey, run.objects.outputsRevision)) as Readable, parser);
    await Promise.all(reads);
    return findings.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }
}
