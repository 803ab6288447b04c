/**
 * Each Lambda bundle holds only the AWS SDK clients its function uses, and stays small: cold starts of the
 * status, heartbeat and me functions are on the researcher's critical path. Bundled in process with esbuild
 * exactly as CDK bundles a CarrelFunction (test/support/bundles.ts).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, it } from 'node:test';
import { ENTRY_NAMES } from '../../lib/constructs/desk-functions.js';
import { allEntries, bundleAll, type BundleFacts } from '../support/bundles.js';

const RECORDS = ['@aws-sdk/client-dynamodb', '@aws-sdk/lib-dynamodb'];
const SIGNING = ['@aws-sdk/client-kms'];
/** Compute is EC2 or Fargate by configuration (COMPUTE_KIND); Fargate gives each home's task its own IAM role. */
const COMPUTE = ['@aws-sdk/client-ec2', '@aws-sdk/client-ecs', '@aws-sdk/client-iam'];
const HOMES = ['@aws-sdk/client-efs'];
const HOSTNAMES = ['@aws-sdk/client-route-53'];

/**
 * What each function really uses (core use cases and FUNCTION_SPECS): a failed launch or reported failure
 * cleans up (compute and hostname), hence hostnames wherever compute is.
 */
const EXPECTED: Readonly<Record<string, { readonly sdk: readonly string[]; readonly maxKb: number }>> = {
  // One read or write, and the KMS signer (gate cookie, agent tokens): the researcher's polling path.
  me: { sdk: [...RECORDS, ...SIGNING], maxKb: 700 },
  status: { sdk: [...RECORDS, ...SIGNING], maxKb: 700 },
  heartbeat: { sdk: [...RECORDS, ...SIGNING], maxKb: 700 },
  'agent-activity': { sdk: [...RECORDS, ...SIGNING], maxKb: 700 },
  // The Fargate bootstrap: the record by task, signing; STS is reached with fetch (no SDK client).
  'agent-bootstrap': { sdk: [...RECORDS, ...SIGNING], maxKb: 700 },
  open: { sdk: [...RECORDS, ...SIGNING, ...COMPUTE, ...HOMES, ...HOSTNAMES], maxKb: 1550 },
  stop: { sdk: [...RECORDS, ...SIGNING, ...COMPUTE, ...HOSTNAMES], maxKb: 1550 },
  housekeeping: { sdk: [...RECORDS, ...SIGNING, ...COMPUTE, ...HOSTNAMES], maxKb: 1550 },
  'compute-events': { sdk: [...RECORDS, ...SIGNING, ...COMPUTE, ...HOSTNAMES, '@aws-sdk/client-lambda'], maxKb: 1600 },
  // EC2 only; its two secrets from Secrets Manager; ssh2 makes it the largest.
  provision: { sdk: [...RECORDS, ...SIGNING, '@aws-sdk/client-ec2', ...HOMES, ...HOSTNAMES, '@aws-sdk/client-secrets-manager'], maxKb: 1950 },
  // ACME DNS-01 on Route 53; the certificate and account key in Secrets Manager (acme-client makes it large).
  'renew-certificate': { sdk: [...HOSTNAMES, '@aws-sdk/client-secrets-manager'], maxKb: 1600 },
  // The sign-in: the KMS signer (login state, session); only the callback reads the client secret. (The
  // table's client comes with the shared composition root; these functions never call it.)
  login: { sdk: [...RECORDS, ...SIGNING], maxKb: 700 },
  callback: { sdk: [...RECORDS, ...SIGNING, '@aws-sdk/client-secrets-manager'], maxKb: 800 },
  logout: { sdk: [...RECORDS, ...SIGNING], maxKb: 700 },
  // Enclave steps (lib/constructs/enclave-aws.ts): the run records, and only the parts of their steps.
  'enclave-verify': { sdk: [...RECORDS, '@aws-sdk/client-s3'], maxKb: 1000 },
  'enclave-notify': { sdk: [...RECORDS, '@aws-sdk/client-sesv2'], maxKb: 800 },
  // Each run's own task role (IAM) and task definitions (ECS).
  'enclave-resources': { sdk: [...RECORDS, '@aws-sdk/client-ecs', '@aws-sdk/client-iam'], maxKb: 1000 },
  'enclave-collect': { sdk: [...RECORDS, '@aws-sdk/client-s3'], maxKb: 1000 },
  'enclave-check': { sdk: [...RECORDS, '@aws-sdk/client-s3'], maxKb: 1000 },
  // Release also signs the desk's download link (KMS).
  'enclave-release': { sdk: [...RECORDS, ...SIGNING, '@aws-sdk/client-s3', '@aws-sdk/client-sesv2'], maxKb: 1200 },
  // The run routes (lib/constructs/enclave-desk.ts): the desk's records and signer, and only their route's parts.
  // Submit records the run and starts its execution; the archive step (home-snapshot) archives the home.
  'submit-run': { sdk: [...RECORDS, ...SIGNING, '@aws-sdk/client-sfn'], maxKb: 1100 },
  'list-runs': { sdk: [...RECORDS, ...SIGNING], maxKb: 900 },
  'review-queue': { sdk: [...RECORDS, ...SIGNING], maxKb: 900 },
  'get-run': { sdk: [...RECORDS, ...SIGNING, '@aws-sdk/client-s3'], maxKb: 1200 },
  'run-file': { sdk: [...RECORDS, ...SIGNING, '@aws-sdk/client-s3'], maxKb: 1200 },
  'decide-run': { sdk: [...RECORDS, ...SIGNING, '@aws-sdk/client-s3', '@aws-sdk/client-sfn'], maxKb: 1300 },
  'download-run': { sdk: [...RECORDS, ...SIGNING, '@aws-sdk/client-s3'], maxKb: 1200 },
  // The home snapshot (the ArchiveHome step): the mounted homes archived to S3; no records, no signing.
  'home-snapshot': { sdk: ['@aws-sdk/client-s3'], maxKb: 900 },
  'custom/provisioner-key': { sdk: ['@aws-sdk/client-secrets-manager'], maxKb: 400 },
};

describe('Lambda bundles', () => {
  let bundles: Map<string, BundleFacts>;
  before(async () => {
    bundles = new Map((await bundleAll()).map((facts) => [facts.name, facts]));
  });

  it('has an expectation for every entry point CDK bundles', () => {
    // Assess
    const missing = allEntries().filter((e) => !EXPECTED[e.name]).map((e) => e.name);
    assert.deepEqual(missing, [], `add ${missing.join(', ')} to EXPECTED in test/infra/bundles.test.ts: the SDK clients it uses and a size bound`);
    assert.deepEqual(allEntries().map((e) => e.name).sort(), Object.keys(EXPECTED).sort());
    for (const name of ENTRY_NAMES) assert.ok(EXPECTED[name], `desk function ${name} has no expected bundle`);
  });

  for (const [name, expected] of Object.entries(EXPECTED)) {
    it(`${name}: contains only the SDK clients it uses, under ${expected.maxKb} KB`, () => {
      // Prepare
      const facts = bundles.get(name);
      assert.ok(facts, `no bundle for ${name}`);
      // Assess
      assert.deepEqual(facts.sdkPackages, [...expected.sdk].sort(), `${name} bundles ${facts.sdkPackages.join(', ')}`);
      const kb = Math.round(facts.bytes / 1024);
      assert.ok(kb <= expected.maxKb, `${name} is ${kb} KB, over its bound of ${expected.maxKb} KB`);
    });
  }

  it("leaves zod's translated error messages out (import * as z from 'zod' lets esbuild drop them)", () => {
    // Assess: a `z` namespace used as one object keeps z.locales, about 260 KB in every function.
    for (const facts of bundles.values()) assert.deepEqual(facts.zodLocales, [], `${facts.name} bundles zod locales ${facts.zodLocales.join(', ')}`);
  });
});

/** True if `source` constructs a class it imports (as a value) from an `@aws-sdk/` package: `new X(` or `X.from(`. */
function createsSdkClient(source: string): boolean {
  const imported = [...source.matchAll(/import\s+\{([^}]*)\}\s+from\s+'@aws-sdk\/[^']+'/g)].flatMap((m) =>
    m[1]!
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name && !name.startsWith('type '))
      .map((name) => name.split(/\s+as\s+/).pop()!),
  );
  return imported.some((name) => /Client$/.test(name) && new RegExp(`\\bnew ${name}\\(|\\b${name}\\.from\\(`).test(source));
}

describe('SDK client modules', () => {
  const ROOT = fileURLToPath(new URL('../../', import.meta.url));
  const CLIENTS_DIR = 'lambdas/adapters/aws/clients/';
  const sources = (dir: string): string[] =>
    readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));

  it('creates SDK clients only in lambdas/adapters/aws/clients/, one service per module', () => {
    // Prepare
    const files = [...sources('lambdas'), ...sources('local')];
    // Act
    const creators = files.filter((file) => createsSdkClient(readFileSync(join(ROOT, file), 'utf8')));
    const services = files
      .filter((file) => file.startsWith(CLIENTS_DIR))
      .map((file) => ({ file, packages: new Set(readFileSync(join(ROOT, file), 'utf8').match(/@aws-sdk\/client-[a-z0-9-]+/g) ?? []) }));
    // Assess
    assert.ok(creators.includes(`${CLIENTS_DIR}dynamodb.ts`), 'the check finds the DynamoDB client module (it can see a client being created)');
    assert.deepEqual(creators.filter((file) => !file.startsWith(CLIENTS_DIR)), [], 'SDK clients created outside clients/');
    for (const { file, packages } of services) assert.ok(packages.size <= 1, `${file} imports ${[...packages].join(', ')}: one service per module keeps bundles apart`);
  });
});
