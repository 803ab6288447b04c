/**
 * The composition root of the desk's run routes on AWS (entry/<route>.ts): the desk's usual adapters
 * (aws-wiring.ts: table, catalog, KMS signer, session) plus the run deps of core/runs/api.ts. Each entry point
 * passes a RunsKit with only the parts its route uses (aws-parts/enclave-runs.ts), so the list route's bundle
 * holds no Step Functions client. A part an entry does not pass fails when used (a wiring bug).
 * Settings come from the function's environment (lib/constructs/enclave-desk.ts), validated once.
 */
import { randomBytes } from 'node:crypto';
import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { systemClock } from '../core/ports.js';
import type { CheckedLinks, RunApiDeps } from '../core/runs/api.js';
import type { RunExecutions } from '../core/runs/deps.js';
import type { Notifier, ObjectStore, TaskTokens } from '../core/runs/ports.js';
import { reviewPages } from '../core/runs/review-page.js';
import { StoredArchiveReader } from '../adapters/archive.js';
import { StoredArchiveFiles } from '../adapters/archive-files.js';
import { dynamoDocumentClient } from '../adapters/aws/clients/dynamodb.js';
import { DynamoAuditLog, DynamoRunStore } from '../adapters/aws/dynamo-run-store.js';
import { DeskReleaseLinks } from '../adapters/release-links.js';
import { unifiedDiff } from '../adapters/text-diff.js';
import { awsApp, type AwsDeps } from './aws-wiring.js';
import { ConfigError } from './config.js';
import { notWired } from './enclave-wiring.js';
import { loadRunsConfig } from './runs-config.js';

export const runsEnvSchema = z.object({
  RUN_OBJECTS_BUCKET: z.string({ error: 'RUN_OBJECTS_BUCKET must be set' }).min(3, { error: 'RUN_OBJECTS_BUCKET must be a bucket name' }),
  RUN_OBJECTS_KEY_ID: z.string({ error: 'RUN_OBJECTS_KEY_ID must be set' }).min(1, { error: 'RUN_OBJECTS_KEY_ID must be set' }),
  /** The enclave state machine (submit only). */
  STATE_MACHINE_ARN: z.string().regex(/^arn:[a-z-]+:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$/, { error: 'STATE_MACHINE_ARN must be a state machine ARN' }).optional(),
});
export type RunsEnv = z.output<typeof runsEnvSchema>;

export function loadRunsEnv(env: Readonly<Record<string, string | undefined>>): RunsEnv {
  const parsed = runsEnvSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => i.message));
  return parsed.data;
}

/** The parts a run route uses, built from the settings (aws-parts/enclave-runs.ts). */
export interface RunsKit {
  readonly objects?: (env: RunsEnv) => ObjectStore;
  readonly executions?: (env: RunsEnv) => RunExecutions;
  readonly tokens?: (env: RunsEnv) => TaskTokens;
  /** Presigned links to checked object versions (the download route). */
  readonly checkedLinks?: (env: RunsEnv) => CheckedLinks;
}

/** The run deps of the desk over `deps` (the desk's adapters) with the parts of `kit`. */
export function runApiDeps(deps: AwsDeps, env: Readonly<Record<string, string | undefined>>, kit: RunsKit): RunApiDeps {
  const settings = loadRunsEnv(env);
  const runs = loadRunsConfig(env);
  const objects = kit.objects ? kit.objects(settings) : notWired<ObjectStore>('an object store');
  const doc = dynamoDocumentClient();
  return {
    runs: new DynamoRunStore(doc, deps.config.tableName),
    audit: new DynamoAuditLog(doc, deps.config.tableName),
    objects,
    links: new DeskReleaseLinks(deps.signer, `https://${deps.config.deskDomain}`),
    archives: new StoredArchiveReader(objects),
    tokens: kit.tokens ? kit.tokens(settings) : notWired<TaskTokens>('task tokens'),
    // The desk mails nobody: the state machine's steps do.
    notifier: notWired<Notifier>('a notifier (the enclave steps send mail, not the desk)'),
    clock: systemClock,
    policy: runs.policy,
    log: deps.log,
    reviewers: [],
    reviewPageOf: reviewPages(`https://${deps.config.deskDomain}`),
    newId: () => randomBytes(8).toString('hex'),
    catalog: deps.catalog,
    executions: kit.executions ? kit.executions(settings) : notWired<RunExecutions>('run executions'),
    files: new StoredArchiveFiles(objects),
    diff: unifiedDiff,
    limits: runs.limits,
    ...(kit.checkedLinks ? { checkedLinks: kit.checkedLinks(settings) } : {}),
  };
}

/**
 * A run route's Lambda handler: the desk's adapters with `enclave` set (not spread: spreading would build
 * every lazy workspace part). Built when the module loads, so a bad setting fails the
 * container at once, naming it.
 */
export function awsRunsHandler<E, R>(
  make: (deps: AwsDeps) => (event: E, context?: Context) => Promise<R>,
  kit: RunsKit,
  env: Readonly<Record<string, string | undefined>> = process.env,
): (event: E, context?: Context) => Promise<R> {
  const { deps, logger } = awsApp({}, env);
  // A view of the container's deps (its prototype) with `enclave` of this entry's kit: the shared deps stay as they are.
  const withRuns = Object.create(deps, { enclave: { value: runApiDeps(deps, env, kit), enumerable: true } }) as AwsDeps;
  const handler = make(withRuns);
  return (event, context) => {
    if (context) logger.addContext(context);
    return handler(event, context);
  };
}
