/**
 * The gate's command line: `node dist/gate/gate.mjs` (bundled) or `tsx assets/gate/main.ts`.
 * Reads its configuration from the environment (see config.ts), exits 1 naming the bad setting, and
 * shuts down gracefully on SIGTERM/SIGINT (what systemd and ECS send).
 */
import { BOOTSTRAP_ENV } from './bootstrap-contract.js';
import { runBootstrap } from './bootstrap.js';
import { loadGateConfig, GateConfigError } from './config.js';
import { createGate } from './gate.js';
import { createLogger, describeError } from './log.js';

async function main(): Promise<void> {
  const log = createLogger();
  // Fargate: the same image, run first as the init container that fetches this workspace's settings.
  if (process.env[BOOTSTRAP_ENV.mode] === 'bootstrap') process.exit(await runBootstrap(process.env, { log }));
  let config;
  try {
    config = loadGateConfig(process.env);
  } catch (error) {
    if (error instanceof GateConfigError) {
      process.stderr.write(`${error.message}\n`);
      log.error('invalid configuration', { detail: error.message });
      process.exit(1);
    }
    throw error;
  }
  const gate = await createGate(config, { log });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal });
    gate.close({ graceMs: 10_000 }).then(
      () => process.exit(0),
      (error: unknown) => {
        log.error('stop failed', describeError(error));
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`carrel gate failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  createLogger().error('failed to start', describeError(error));
  process.exit(1);
});
