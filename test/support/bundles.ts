/**
 * Bundles Lambda entry points in process with esbuild exactly as CDK's NodejsFunction does for a
 * CarrelFunction (the same `carrelBundling()` options, translated the way aws-cdk-lib's Bundling turns
 * them into esbuild arguments), and reads from the metafile which AWS SDK client packages each bundle holds.
 * Used by test/infra/bundles.test.ts and the bundle-size benchmark (test/bench/bundles.ts).
 */
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { build, type BuildOptions, type Metafile, type OutputFile } from 'esbuild';
import type { BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import { carrelBundling, ENTRY_DIR, LATEST_NODE_RUNTIME } from '../../lib/lambda-function.js';
import { CUSTOM_RESOURCE_DIR } from '../../lib/constructs/workspaces.js';

export interface BundleFacts {
  /** Entry name (`status`, `open`, ...; custom resources as `custom/<name>`). */
  readonly name: string;
  /** Size of the bundle's JavaScript file (index.mjs), bytes. */
  readonly bytes: number;
  /** Size of its source map (index.mjs.map), bytes: in the zip, read only when an error's stack is mapped. */
  readonly mapBytes: number;
  /** The `@aws-sdk/client-*` packages (and `@aws-sdk/lib-*`) the bundle contains, sorted. */
  readonly sdkPackages: readonly string[];
  /** Bytes of output each `@aws-sdk/client-*` / `@aws-sdk/lib-*` package contributes. */
  readonly sdkBytes: Readonly<Record<string, number>>;
  /** zod's translated error messages in the bundle (`v4/locales/<lang>`, but `en`, which zod configures). */
  readonly zodLocales: readonly string[];
  /** index.mjs and index.mjs.map (paths under `/carrel-bundle`), not written anywhere. */
  readonly files: readonly OutputFile[];
}

/** Every Lambda entry point CDK bundles: the desk's (lambdas/handlers/entry) and the custom resources. */
export function allEntries(): readonly { readonly name: string; readonly path: string }[] {
  const list = (dir: string, prefix: string) =>
    readdirSync(dir)
      .filter((file) => file.endsWith('.ts'))
      .sort()
      .map((file) => ({ name: `${prefix}${basename(file, '.ts')}`, path: join(dir, file) }));
  return [...list(ENTRY_DIR, ''), ...list(CUSTOM_RESOURCE_DIR, 'custom/')];
}

/**
 * The esbuild options aws-cdk-lib derives from `bundling` (Bundling.buildEsbuildArgs: --bundle, --platform=node,
 * target, format, outfile index.mjs/index.js, minify, sourcemap, sources-content, externals, banner,
 * main-fields). Options CarrelFunction does not use are refused, so this cannot silently drift from CDK.
 */
export function cdkEsbuildOptions(bundling: BundlingOptions, entry: string, outdir: string): BuildOptions {
  const unsupported = (['define', 'loader', 'keepNames', 'tsconfig', 'footer', 'inject', 'esbuildArgs', 'nodeModules', 'preCompilation'] as const).filter(
    (key) => bundling[key] !== undefined,
  );
  if (unsupported.length > 0) throw new Error(`cdkEsbuildOptions does not translate bundling.${unsupported.join(', bundling.')} yet`);
  const esm = bundling.format === 'esm';
  return {
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: bundling.target ?? `node${/nodejs(\d+)/.exec(LATEST_NODE_RUNTIME.name)![1]}`,
    ...(bundling.format ? { format: bundling.format as 'esm' | 'cjs' } : {}),
    outfile: join(outdir, esm ? 'index.mjs' : 'index.js'),
    minify: bundling.minify ?? false,
    sourcemap: bundling.sourceMap || bundling.sourceMapMode ? (bundling.sourceMapMode && bundling.sourceMapMode !== 'default' ? (bundling.sourceMapMode as 'inline') : true) : false,
    sourcesContent: bundling.sourcesContent ?? true,
    // CarrelFunction always sets externalModules, so CDK's default (@aws-sdk/* external) never applies.
    external: [...(bundling.externalModules ?? ['@aws-sdk/*'])],
    ...(bundling.banner ? { banner: { js: bundling.banner } } : {}),
    ...(bundling.mainFields ? { mainFields: [...bundling.mainFields] } : {}),
    ...(bundling.logLevel ? { logLevel: bundling.logLevel as BuildOptions['logLevel'] } : { logLevel: 'silent' }),
    metafile: true,
    write: false,
  };
}

const SDK_PACKAGE = /node_modules\/(@aws-sdk\/(?:client|lib)-[^/]+)\//;

/** The SDK client/lib packages in a bundle and the output bytes each contributes (from the metafile). */
export function sdkPackagesOf(metafile: Metafile): Record<string, number> {
  const bytes: Record<string, number> = {};
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const match = SDK_PACKAGE.exec(input);
      if (match && bytesInOutput > 0) bytes[match[1]!] = (bytes[match[1]!] ?? 0) + bytesInOutput;
    }
  }
  return bytes;
}

const ZOD_LOCALE = /node_modules\/zod\/v4\/locales\/([a-zA-Z-]+)\.js$/;

function zodLocalesOf(metafile: Metafile): string[] {
  const locales = new Set<string>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const match = ZOD_LOCALE.exec(input);
      if (match && bytesInOutput > 0 && match[1] !== 'en' && match[1] !== 'index') locales.add(match[1]!);
    }
  }
  return [...locales].sort();
}

/** Bundle one entry point like CDK does for a CarrelFunction with `props` (nothing is written to disk). */
export async function bundleEntry(
  name: string,
  path: string,
  props: Parameters<typeof carrelBundling>[0] = name === 'provision' ? { optionalNativeAddons: true } : {},
): Promise<BundleFacts> {
  const outdir = '/carrel-bundle';
  const { outputFiles = [], metafile } = await build(cdkEsbuildOptions(carrelBundling(props), path, outdir));
  const js = outputFiles.find((file) => /\.m?js$/.test(file.path));
  const map = outputFiles.find((file) => file.path.endsWith('.map'));
  if (!js || !metafile) throw new Error(`esbuild produced no JavaScript or metafile for ${name}`);
  const sdkBytes = sdkPackagesOf(metafile);
  return {
    name,
    bytes: js.contents.byteLength,
    mapBytes: map?.contents.byteLength ?? 0,
    sdkPackages: Object.keys(sdkBytes).sort(),
    sdkBytes,
    zodLocales: zodLocalesOf(metafile),
    files: outputFiles,
  };
}

/** Every entry point's bundle facts, one after the other (esbuild uses the cores itself). */
export async function bundleAll(): Promise<BundleFacts[]> {
  const facts: BundleFacts[] = [];
  for (const { name, path } of allEntries()) facts.push(await bundleEntry(name, path));
  return facts;
}
