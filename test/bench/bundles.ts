/**
 * Figure 5 of `npm run bench`: each Lambda's bundle, built with esbuild exactly as CDK builds it
 * (test/support/bundles.ts): the size of index.mjs and of its source map, which `@aws-sdk/client-*` and
 * `lib-*` packages it holds (from the esbuild metafile), and how long a fresh Node process takes to load the
 * bundle (a stand-in for the module-load share of a Lambda cold start: the entry's top level runs, with the
 * test environment and a local signing key so that nothing reaches AWS).
 *
 * `npx tsx test/bench/bundles.ts` prints this section alone.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { entryEnv } from '../handlers/support.js';
import { allEntries, bundleEntry, type BundleFacts } from '../support/bundles.js';
import { summarize, table, type Summary } from './stats.js';

const run = promisify(execFile);

export interface BundleFigure extends Omit<BundleFacts, 'sdkBytes' | 'zodLocales' | 'files'> {
  /** Milliseconds from `import()` to the module evaluated, in a fresh `node --enable-source-maps`. */
  readonly loadMs?: Summary;
}

export interface BundleFigures {
  readonly functions: readonly BundleFigure[];
  readonly loadSamples: number;
}

/** The environment a desk function gets from CDK, enough for its top level to run here (no AWS call). */
function loadEnvironment(): Record<string, string> {
  return {
    ...entryEnv(),
    // The provisioner's and the certificate renewal's own settings (ARNs are never called here).
    PROVISIONER_SSH_KEY_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-2:111122223333:secret:carrel-test/ssh-AbCdEf',
    GATE_CERTIFICATE_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-2:111122223333:secret:carrel-test/cert-AbCdEf',
    ACME_ACCOUNT_KEY_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-2:111122223333:secret:carrel-test/acme-AbCdEf',
    HOSTED_ZONE_ID: 'Z0123456789ABCDEFGHIJ',
    PATH: process.env.PATH ?? '',
  };
}

const LOADER = `const t = performance.now(); await import(process.argv[1]); process.stdout.write(String(performance.now() - t));`;

/** Median of `samples` fresh-process loads of a bundle, or undefined if its top level needs more than the test environment. */
async function loadTimes(facts: BundleFacts, samples: number, env: Record<string, string>, progress: (m: string) => void): Promise<Summary | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'carrel-bundle-'));
  try {
    for (const file of facts.files) await writeFile(join(dir, basename(file.path)), file.contents);
    const bundle = join(dir, 'index.mjs');
    const times: number[] = [];
    for (let i = 0; i <= samples; i++) {
      const { stdout } = await run(process.execPath, ['--enable-source-maps', '--input-type=module', '-e', LOADER, bundle], { env, cwd: dir, timeout: 60_000 });
      if (i > 0) times.push(Number(stdout)); // the first load warms the disk cache
    }
    return summarize(times);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim().split('\n').slice(-3).join(' | ');
    progress(`${facts.name}: load not timed (${stderr || (error instanceof Error ? error.message.split('\n')[0] : String(error))})`);
    return undefined;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function bundleFigures(progress: (message: string) => void, loadSamples = 5): Promise<BundleFigures> {
  const env = loadEnvironment();
  const functions: BundleFigure[] = [];
  for (const { name, path } of allEntries()) {
    progress(`bundling ${name}`);
    const bundled = await bundleEntry(name, path);
    const { sdkBytes: _bytes, zodLocales: _locales, files: _files, ...facts } = bundled;
    // The provisioner's own settings name the homes file system (desk functions without compute must not).
    const functionEnv = name === 'provision' ? { ...env, EFS_FILE_SYSTEM_ID: 'fs-0123456789abcdef0' } : env;
    const loadMs = name.startsWith('custom/') ? undefined : await loadTimes(bundled, loadSamples, functionEnv, progress);
    functions.push({ ...facts, ...(loadMs ? { loadMs } : {}) });
  }
  return { functions, loadSamples };
}

const kb = (bytes: number) => (bytes / 1024).toFixed(0);

export function bundleReport(f: BundleFigures): string {
  return [
    '5. Lambda bundles (esbuild as CDK runs it: ESM, minified, source maps without sources)',
    table(
      `   index.mjs size, its source map, module load in a fresh node (median of ${f.loadSamples}), SDK client packages`,
      ['function', 'KB', 'map KB', 'load ms', '@aws-sdk packages'],
      f.functions.map((fn) => [
        fn.name,
        kb(fn.bytes),
        kb(fn.mapBytes),
        fn.loadMs ? fn.loadMs.median.toFixed(0) : '-',
        fn.sdkPackages.map((p) => p.replace('@aws-sdk/', '')).join(' '),
      ]),
    ),
  ].join('\n');
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  bundleFigures((m) => process.stderr.write(`[bundles] ${m}\n`)).then(
    (figures) => process.stdout.write(`${bundleReport(figures)}\n${JSON.stringify(figures)}\n`),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
