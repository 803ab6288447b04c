/**
 * Bundles the gate into one ESM file that runs with plain `node` (no node_modules on the host):
 *   npx tsx assets/gate/build.ts [outFile]      → dist/gate/gate.mjs by default
 */
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));

export async function buildGate(outFile = 'dist/gate/gate.mjs'): Promise<string> {
  const target = resolve(outFile);
  await mkdir(dirname(target), { recursive: true });
  await build({
    entryPoints: [resolve(here, 'main.ts')],
    outfile: target,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minify: false,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'warning',
    // http-proxy-3 and its dependencies are CommonJS and call require() for Node built-ins.
    banner: { js: "import { createRequire as __carrelCreateRequire } from 'node:module'; const require = __carrelCreateRequire(import.meta.url);" },
  });
  return target;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  buildGate(process.argv[2]).then(
    (file) => process.stdout.write(`gate bundled: ${file}\n`),
    (error: unknown) => {
      process.stderr.write(`gate bundle failed: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
