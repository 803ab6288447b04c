/**
 * Puts what the provisioner uploads next to its Lambda bundle: provision.sh, the gate bundle (gate.mjs)
 * and the blank-project template. CDK's afterBundling hook for the provisioner function runs
 *   npx tsx assets/provision/stage.ts <outputDir>
 * and the entry point reads them from its own folder (or PROVISION_ASSETS_DIR).
 */
import { chmod, cp, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildGate } from '../gate/build.js';

const here = dirname(fileURLToPath(import.meta.url));

/** The script, its template and the gate bundle, staged into `outDir`. Returns the folder. */
export async function stageProvisionAssets(outDir: string): Promise<string> {
  const target = resolve(outDir);
  await mkdir(target, { recursive: true });
  await cp(join(here, 'provision.sh'), join(target, 'provision.sh'));
  await chmod(join(target, 'provision.sh'), 0o755);
  await cp(join(here, 'template'), join(target, 'template'), { recursive: true });
  await buildGate(join(target, 'gate.mjs'));
  return target;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const out = process.argv[2];
  if (!out) {
    process.stderr.write('usage: tsx assets/provision/stage.ts <outputDir>\n');
    process.exit(2);
  }
  stageProvisionAssets(out).then(
    (dir) => process.stdout.write(`provisioning assets staged in ${dir}\n`),
    (error: unknown) => {
      process.stderr.write(`staging failed: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
