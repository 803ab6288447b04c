/**
 * `npm start`: build the front desk and the gate, then run the whole platform on this machine.
 * Open http://app.localhost:8080 (PORT overrides). Ctrl-C stops serving; workspaces are stopped
 * by housekeeping when idle, and a restart picks everything up again from the data folder.
 */
import { buildFrontend } from '../frontend/build.js';
import { buildGate } from '../assets/gate/build.js';
import { loadLocalConfig } from './config.js';
import { startLocalRuntime } from './runtime.js';

const config = loadLocalConfig();
const siteDir = 'dist/frontend';
const gateBundle = 'dist/gate/gate.mjs';
await Promise.all([buildFrontend(siteDir), buildGate(gateBundle)]);
const runtime = await startLocalRuntime(config, { siteDir, gateBundle });
process.stdout.write(`\n  carrel is running: ${runtime.deskUrl}\n  sign in as alice, bob, rita or pat (rita reviews enclave runs at ${runtime.deskUrl}/review)\n\n`);

let closing = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    if (closing) process.exit(1);
    closing = true;
    await runtime.close();
    process.exit(0);
  });
}
