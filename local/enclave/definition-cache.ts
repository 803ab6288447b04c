/**
 * The resolved enclave definition, cached on disk: synthesizing the construct takes about 10 s, so the local
 * runtime would otherwise pay it at every start. The cache key covers everything the definition is made
 * from (the policy, the construct and the local resolution code, the CDK version); anything else changed
 * just synthesizes again. The cached file is the same JSON `synthesizeEnclaveDefinition` returns.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunPolicy } from '../../lambdas/core/runs/policy.js';
import { writeFileAtomic } from '../files.js';

const SOURCES = ['../../lib/constructs/enclave-state-machine.ts', './definition.ts', '../../lambdas/core/runs/steps.ts'].map((p) => fileURLToPath(new URL(p, import.meta.url)));

async function cacheKey(policy: RunPolicy): Promise<string> {
  // Only the deadlines shape the definition (they become its timeouts).
  const hash = createHash('sha256').update(JSON.stringify(policy.deadlines));
  for (const source of SOURCES) hash.update(await readFile(source));
  hash.update(String((createRequire(import.meta.url)('aws-cdk-lib/package.json') as { version: string }).version));
  return hash.digest('hex').slice(0, 32);
}

/** The definition for `policy`, from `cacheDir` when it was synthesized before from the same sources. */
export async function cachedEnclaveDefinition(policy: RunPolicy, cacheDir: string): Promise<Record<string, unknown>> {
  const file = join(cacheDir, `enclave-definition-${await cacheKey(policy)}.json`);
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch {
    const { synthesizeEnclaveDefinition } = await import('./definition.js');
    const definition = synthesizeEnclaveDefinition(policy);
    await mkdir(cacheDir, { recursive: true });
    await writeFileAtomic(file, JSON.stringify(definition));
    return definition;
  }
}
