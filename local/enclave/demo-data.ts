/**
 * The demo's datasets: each analysis has a "real" dataset (mounted read-only in its enclave runs only) and a
 * synthetic one (copied into a researcher's home when it is first created, under data/synthetic, which a
 * submission leaves out). They differ visibly: the real one has 57 people in four regions, the synthetic
 * one 8 people in two made-up regions, so a run's outputs show which one it read.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HomeRef, HomesPort, WorkspaceKey } from '../../lambdas/core/index.js';
import { writeFileAtomic } from '../files.js';

export const REAL_ROWS = 57;
export const SYNTHETIC_ROWS = 8;

const REGIONS = ['North', 'South', 'East', 'West'];

function realPeople(): string {
  const rows = ['id,region,age,smoker'];
  // Deterministic and uneven: West stays under the small-count threshold, so the check has something to flag.
  for (let i = 0; i < REAL_ROWS; i++) {
    const region = i % 19 === 7 ? 'West' : REGIONS[i % 3]!;
    rows.push(`${1000 + i},${region},${18 + ((i * 37) % 63)},${(i * 11) % 4 === 0 ? 'yes' : 'no'}`);
  }
  return rows.join('\n') + '\n';
}

function syntheticPeople(): string {
  const rows = ['id,region,age,smoker'];
  for (let i = 0; i < SYNTHETIC_ROWS; i++) rows.push(`${i + 1},${i % 2 ? 'Synthland-A' : 'Synthland-B'},${30 + i},${i % 3 === 0 ? 'yes' : 'no'}`);
  return rows.join('\n') + '\n';
}

/** The starter project: works on the synthetic data in the workspace and on the real data in the enclave. */
export const STARTER_RUN_SH = `#!/bin/sh
# The enclave runs this file: /data holds the real dataset (read-only), /outputs is what reviewers see.
set -e
python3 analysis.py
`;

export const STARTER_ANALYSIS_PY = `"""Counts people per region. In the workspace it reads data/synthetic; in the enclave, /data (the real data)."""
import csv, os
from collections import Counter

data = '/data' if os.path.isdir('/data') else 'data/synthetic'
out = '/outputs' if os.path.isdir('/outputs') else 'outputs'
os.makedirs(out, exist_ok=True)
rows = list(csv.DictReader(open(os.path.join(data, 'people.csv'))))
counts = Counter(r['region'] for r in rows)
with open(os.path.join(out, 'by_region.csv'), 'w') as f:
    f.write('region,count\\n')
    for region, n in sorted(counts.items()):
        f.write(f'{region},{n}\\n')
with open(os.path.join(out, 'summary.txt'), 'w') as f:
    f.write(f'{len(rows)} people read from {data}\\n')
`;

export interface DemoDatasets {
  /** The folder of an analysis's real dataset (what `/data` is in its runs). */
  realOf(analysisId: string): string;
  syntheticOf(analysisId: string): string;
}

/** Write the datasets of `analysisIds` under `<root>/<analysisId>/{real,synthetic}` (idempotent). */
export async function seedDemoDatasets(root: string, analysisIds: readonly string[]): Promise<DemoDatasets> {
  const realOf = (id: string) => join(root, id, 'real');
  const syntheticOf = (id: string) => join(root, id, 'synthetic');
  for (const id of analysisIds) {
    await writeFileAtomic(join(realOf(id), 'people.csv'), realPeople(), 0o644);
    await writeFileAtomic(join(syntheticOf(id), 'people.csv'), syntheticPeople(), 0o644);
  }
  return { realOf, syntheticOf };
}

/** Homes whose first use also gets the synthetic data and the starter project (never the real data). */
export class HomesWithDemoData implements HomesPort {
  constructor(
    private readonly homes: HomesPort & { pathOf(key: WorkspaceKey): string },
    private readonly datasets: DemoDatasets,
  ) {}

  pathOf(key: WorkspaceKey): string {
    return this.homes.pathOf(key);
  }

  async ensure(key: WorkspaceKey): Promise<HomeRef> {
    const ref = await this.homes.ensure(key);
    if (ref.created) {
      const home = this.homes.pathOf(key);
      const synthetic = join(this.datasets.syntheticOf(key.analysisId), 'people.csv');
      // Only the demo analyses have datasets; another analysis's home (the benchmark's) starts without synthetic data.
      if (existsSync(synthetic)) {
        await mkdir(join(home, 'data', 'synthetic'), { recursive: true });
        await copyFile(synthetic, join(home, 'data', 'synthetic', 'people.csv'));
      }
      await writeFile(join(home, 'run.sh'), STARTER_RUN_SH, { flag: 'wx' }).catch(() => undefined);
      await writeFile(join(home, 'analysis.py'), STARTER_ANALYSIS_PY, { flag: 'wx' }).catch(() => undefined);
    }
    return ref;
  }
}
