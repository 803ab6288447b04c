/** Helpers for the local enclave integration tests. */
import { existsSync } from 'node:fs';
import type { Run, RunKey, RunState } from '../../lambdas/core/runs/index.js';
import type { LocalEnclave } from '../../local/enclave/enclave.js';

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
