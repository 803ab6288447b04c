/** Helpers for the local enclave integration tests. */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeskReleaseLinks } from '../../lambdas/adapters/release-links.js';
import { LocalKeySigner } from '../../lambdas/adapters/tokens.js';
import type { Run, RunKey, RunState } from '../../lambdas/core/runs/index.js';
import { createLocalEnclave, type LocalEnclave, type LocalEnclaveOptions } from '../../local/enclave/enclave.js';
import { startDynalite, type TestDynamo } from './dynalite.js';
import { FakeLog } from './fakes.js';

/** bubblewrap runs the local enclave; `npm run setup` installs it. */
export const ENCLAVE_SKIP: false | string = existsSync('/usr/bin/bwrap') ? false : 'bubblewrap is not installed (npm run setup installs it)';

/** Poll the run store until the run is in one of `states` (the state machine moves it in the background). */
export async function waitForRunState(enclave: LocalEnclave, key: RunKey, states: readonly RunState[], timeoutMs = 30_000): Promise<Run> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const run = await enclave.deps.runs.get(key);
    if (run && states.includes(run.state)) return run;
    if (Date.now() > until) throw new Error(`run ${key.runId} is ${run?.state}, not ${states.join('|')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface TestEnclave {
  readonly enclave: LocalEnclave;
  /** The enclave's folder: `homes/<analysisId>/<userId>` are the homes the archive step reads. */
  readonly root: string;
  /** The real dataset every run reads (`people.csv`). */
  readonly dataset: string;
  close(): Promise<void>;
}

/**
 * A local enclave over dynalite in a fresh folder, with one real dataset (`people.csv` holding `peopleCsv`),
 * rita as the reviewer and release links signed by a fresh key; `options` override any of it.
 */
export async function startTestEnclave(name: string, peopleCsv: string, options: Partial<LocalEnclaveOptions> = {}): Promise<TestEnclave> {
  const dynamo: TestDynamo = await startDynalite();
  const root = await mkdtemp(join(tmpdir(), `carrel-${name}-`));
  const dataset = join(root, 'datasets', 'demo');
  await mkdir(dataset, { recursive: true });
  await writeFile(join(dataset, 'people.csv'), peopleCsv);
  const enclave = await createLocalEnclave({
    root,
    doc: dynamo.doc,
    tableName: dynamo.tableName,
    datasetOf: () => dataset,
    reviewers: ['rita'],
    deskOrigin: 'http://app.localhost:8080',
    links: new DeskReleaseLinks(new LocalKeySigner(LocalKeySigner.generatePem()), 'http://app.localhost:8080'),
    log: new FakeLog(),
    homes: join(root, 'homes'),
    ...options,
  });
  return {
    enclave,
    root,
    dataset,
    async close() {
      enclave.stop();
      await dynamo.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}
