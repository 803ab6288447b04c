/**
 * Builds the front desk: one bundled, minified script and stylesheet with content-hashed names (cached
 * forever by CloudFront and the local static server), their source maps, and an index.html that
 * references them. Every route of the single-page app is served that index.html.
 *
 *   npx tsx frontend/build.ts [outDir]
 */
import { build } from 'esbuild';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export interface FrontendBuild {
  readonly outDir: string;
  /** Absolute URL paths, e.g. /assets/app.Q2X3ABCD.js */
  readonly script: string;
  readonly stylesheet?: string;
  readonly indexHtml: string;
}

const FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#1f5fbf"/><path d="M9 22V10h14v12" fill="none" stroke="#fff" stroke-width="3"/></svg>\n`;

export async function buildFrontend(outDir = 'dist/frontend'): Promise<FrontendBuild> {
  const out = resolve(outDir);
  // The folder is emptied first (no stale hashed files): never let that be the project or one of its parents.
  if (out === resolve('/') || out === process.cwd() || !relative(out, here).startsWith('..')) {
    throw new Error(`Refusing to build the front desk into ${out}: give a dedicated output folder such as dist/frontend`);
  }
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const result = await build({
    entryPoints: { app: join(here, 'src', 'main.tsx') },
    outdir: out,
    entryNames: 'assets/[name].[hash]',
    assetNames: 'assets/[name].[hash]',
    chunkNames: 'assets/[name].[hash]',
    publicPath: '/',
    bundle: true,
    minify: true,
    sourcemap: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"production"' },
    legalComments: 'linked',
    metafile: true,
    logLevel: 'silent',
  });

  let script: string | undefined;
  let stylesheet: string | undefined;
  for (const [file, output] of Object.entries(result.metafile.outputs)) {
    const url = `/${relative(out, resolve(file)).split('\\').join('/')}`;
    if (output.entryPoint && file.endsWith('.js')) script = url;
    else if (file.endsWith('.css')) stylesheet = url;
  }
  if (!script) throw new Error('esbuild produced no entry script for the front desk');

  const html = indexHtml(script, stylesheet);
  const indexPath = join(out, 'index.html');
  await Promise.all([writeFile(indexPath, html), writeFile(join(out, 'favicon.svg'), FAVICON)]);
  return { outDir: out, script, stylesheet, indexHtml: indexPath };
}

function indexHtml(script: string, stylesheet: string | undefined): string {
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <meta name="color-scheme" content="light" />
    <title>carrel</title>
    <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
${stylesheet ? `    <link rel="stylesheet" href="${stylesheet}" />\n` : ''}    <script type="module" src="${script}"></script>
  </head>
  <body>
    <noscript>carrel needs JavaScript to open your workspace.</noscript>
    <div id="root"></div>
  </body>
</html>
`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const started = performance.now();
  const built = await buildFrontend(process.argv[2]);
  console.log(`front desk built in ${Math.round(performance.now() - started)} ms: ${built.indexHtml} -> ${built.script}${built.stylesheet ? `, ${built.stylesheet}` : ''}`);
}
