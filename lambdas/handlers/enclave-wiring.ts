/**
 * The composition root of the enclave's step Lambdas (entry/enclave-*.ts): the run store and audit log on
 * the desk's table, and the parts each entry point passes in its EnclaveKit (aws-parts/enclave-*.ts), so a
 * bundle holds only the SDK clients its steps use: the archive check has no SES client, the notices no
 * outputs reader. A part an entry does not pass is a stand-in that fails when used (a wiring bug).
 * Settings come from the function's environment (set by lib/constructs/enclave-aws.ts), validated once;
 * a bad one fails the container's start with a message naming it.
 */
import { randomBytes } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import * as z from 'zod';
import { systemClock, type Log } from '../core/ports.js';
import type { ArchiveReader, DisclosureChecker, HomeSnapshots, OutputsCollector, RunCredentials } from '../core/runs/deps.js';
import { DEFAULT_RUN_POLICY, type RunPolicy } from '../core/runs/policy.js';
import type { Notifier, ObjectStore, ReleaseLinks, TaskTokens } from '../core/runs/ports.js';
import { reviewPages } from '../core/runs/review-page.js';
import type { EnclaveStep, StepDeps, StepOutput } from '../core/runs/steps.js';
import { StoredArchiveReader } from '../adapters/archive.js';
import { dynamoDocumentClient } from '../adapters/aws/clients/dynamodb.js';
import { DynamoAuditLog, DynamoRunStore } from '../adapters/aws/dynamo-run-store.js';
import { SmallCountChecker } from '../adapters/disclosure.js';
import { makeStepHandler } from './enclave-steps.js';
import { powertoolsLog } from './powertools-log.js';

const whole = (name: string, min: number, max: number, fallback: number) =>
  z.coerce
    .number({ error: `${name} must be a number` })
    .int({ error: `${name} must be a whole number` })
    .min(min, { error: `${name} must be at least ${min}` })
    .max(max, { error: `${name} must be at most ${max}` })
    .default(fallback);

export const enclaveEnvSchema = z.object({
  TABLE_NAME: z.string({ error: 'TABLE_NAME must be set' }).min(1, { error: 'TABLE_NAME must be set' }),
  RUN_OBJECTS_BUCKET: z.string({ error: 'RUN_OBJECTS_BUCKET must be set' }).min(3, { error: 'RUN_OBJECTS_BUCKET must be a bucket name' }),
  RUN_OBJECTS_KEY_ID: z.string({ error: 'RUN_OBJECTS_KEY_ID must be set' }).min(1, { error: 'RUN_OBJECTS_KEY_ID must be set' }),
  OUTPUTS_BUCKET: z.string().min(3, { error: 'OUTPUTS_BUCKET must be a bucket name' }).optional(),
  MAIL_FROM: z.string().min(3, { error: 'MAIL_FROM must be an address' }).optional(),
  MAIL_CONFIGURATION_SET: z.string().min(1).optional(),
  /**
   * The desk's signing key (KMS) and origin: release links are the desk's download route, signed like its tokens,
   * and the review-needed mail links to the desk's review page (the request-review step needs the origin).
   */
  SIGNING_KEY_ID: z.string().min(1, { error: 'SIGNING_KEY_ID must be a KMS key id or ARN' }).optional(),
  DESK_ORIGIN: z.string().regex(/^https:\/\/[a-z0-9.-]+(:\d+)?$/, { error: 'DESK_ORIGIN must be an https:// origin' }).optional(),
  /** The run resources step (enclave-resources): the deployment, the runs' template task family and dataset. */
  DEPLOYMENT_ID: z.string().regex(/^[a-z][a-z0-9-]{0,23}$/, { error: 'DEPLOYMENT_ID must be a deployment id' }).optional(),
  RUN_TASK_FAMILY: z.string().regex(/^[A-Za-z0-9_-]{1,200}$/, { error: 'RUN_TASK_FAMILY must be a task definition family' }).optional(),
  DATASET_BUCKET_ARN: z.string().regex(/^arn:aws[a-z-]*:s3:::[a-z0-9.-]{3,63}$/, { error: 'DATASET_BUCKET_ARN must be an S3 bucket ARN' }).optional(),
  DATASET_PREFIX: z.string().default(''),
  DATASET_KEY_ARN: z.string().regex(/^arn:aws[a-z-]*:kms:/, { error: 'DATASET_KEY_ARN must be a KMS key ARN' }).optional(),
  /** Comma-separated user ids told when a run waits for review. */
  REVIEWERS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean)),
  REVIEWER_ROLE: z.string().min(1, { error: 'REVIEWER_ROLE must not be empty' }).default(DEFAULT_RUN_POLICY.reviewerRole),
  REQUIRED_APPROVALS: z.enum(['1', '2'], { error: 'REQUIRED_APPROVALS must be 1 or 2' }).default('1').transform((v) => Number(v) as 1 | 2),
  SMALL_COUNT_THRESHOLD: whole('SMALL_COUNT_THRESHOLD', 2, 1000, 10),
  RELEASE_LINK_TTL_SECONDS: whole('RELEASE_LINK_TTL_SECONDS', 60, 7 * 24 * 3600, DEFAULT_RUN_POLICY.releaseLinkTtlMs / 1000),
  POWERTOOLS_SERVICE_NAME: z.string().default('carrel-enclave'),
  POWERTOOLS_LOG_LEVEL: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'], { error: 'POWERTOOLS_LOG_LEVEL must be a Powertools log level' }).default('INFO'),
});
export type EnclaveEnv = z.output<typeof enclaveEnvSchema>;

export class EnclaveConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EnclaveConfigError';
  }
}

export function loadEnclaveEnv(env: Readonly<Record<string, string | undefined>>): EnclaveEnv {
  const parsed = enclaveEnvSchema.safeParse(env);
  if (!parsed.success) throw new EnclaveConfigError(`Enclave step configuration: ${parsed.error.issues.map((i) => i.message).join('; ')}`, { cause: parsed.error });
  return parsed.data;
}

/** The run policy of the deployment: the core defaults with the configured review settings. */
export function enclavePolicy(env: EnclaveEnv): RunPolicy {
  return { ...DEFAULT_RUN_POLICY, requiredApprovals: env.REQUIRED_APPROVALS, reviewerRole: env.REVIEWER_ROLE, releaseLinkTtlMs: env.RELEASE_LINK_TTL_SECONDS * 1000 };
}

/** The parts an entry point uses, built from the settings (aws-parts/enclave-objects.ts, enclave-mail.ts). */
export interface EnclaveKit {
  readonly objects?: (env: EnclaveEnv) => ObjectStore;
  readonly collector?: (env: EnclaveEnv, objects: ObjectStore, archives: ArchiveReader) => OutputsCollector;
  readonly notifier?: (env: EnclaveEnv, log: Log) => Notifier;
  /** Release links (the release step only). */
  readonly links?: (env: EnclaveEnv) => ReleaseLinks;
  /** The run's own role and task definitions (the prepare-run and clean-up steps only). */
  readonly credentials?: (env: EnclaveEnv, log: Log) => RunCredentials;
}

class NotWired extends Error {
  constructor(part: string) {
    super(`This enclave function is not wired with ${part}: add it to its entry point's EnclaveKit`);
    this.name = 'NotWiredError';
  }
}

export function notWired<T extends object>(part: string): T {
  return new Proxy({} as T, {
    get: (_target, property) => (property === 'then' ? undefined : () => Promise.reject(new NotWired(part))),
  });
}

/** Step deps for `env` with the parts of `kit`. */
export function enclaveStepDeps(env: EnclaveEnv, kit: EnclaveKit, log: Log): StepDeps {
  const objects = kit.objects ? kit.objects(env) : notWired<ObjectStore>('an object store');
  const archives = new StoredArchiveReader(objects);
  const doc = dynamoDocumentClient();
  return {
    runs: new DynamoRunStore(doc, env.TABLE_NAME),
    audit: new DynamoAuditLog(doc, env.TABLE_NAME),
    objects,
    archives,
    links: kit.links ? kit.links(env) : notWired<ReleaseLinks>('release links'),
    // Only reviewers' decisions (the desk) complete waiting steps: no step Lambda sends task tokens.
    tokens: notWired<TaskTokens>('task tokens (the desk completes reviews, not the steps)'),
    notifier: kit.notifier ? kit.notifier(env, log) : notWired<Notifier>('a notifier'),
    clock: systemClock,
    policy: enclavePolicy(env),
    log,
    reviewers: env.REVIEWERS,
    reviewPageOf: env.DESK_ORIGIN
      ? reviewPages(env.DESK_ORIGIN)
      : () => {
          throw new NotWired('the desk origin (DESK_ORIGIN)');
        },
    newId: () => randomBytes(8).toString('hex'),
    collector: kit.collector ? kit.collector(env, objects, archives) : notWired<OutputsCollector>('an outputs collector'),
    checker: new SmallCountChecker(objects, { threshold: env.SMALL_COUNT_THRESHOLD }) satisfies DisclosureChecker,
    credentials: kit.credentials ? kit.credentials(env, log) : notWired<RunCredentials>('run credentials'),
    // The archive step runs in its own function, the one that mounts the homes (entry/home-snapshot.ts).
    snapshots: notWired<HomeSnapshots>('home snapshots (the home-snapshot function archives homes)'),
  };
}

/** A step Lambda's handler: built when the module loads (a bad setting fails the container at once). */
export function enclaveStepHandler(serves: readonly EnclaveStep[], kit: EnclaveKit, env: Readonly<Record<string, string | undefined>> = process.env): (event: unknown) => Promise<StepOutput> {
  const settings = loadEnclaveEnv(env);
  // The review mail links to the desk: a function asking for review without the origin fails at its start, not mid-run.
  if (serves.includes('request-review') && !settings.DESK_ORIGIN) throw new EnclaveConfigError('Enclave step configuration: DESK_ORIGIN must be set for the request-review step (the mail links to the review page)');
  const logger = new Logger({ serviceName: settings.POWERTOOLS_SERVICE_NAME, logLevel: settings.POWERTOOLS_LOG_LEVEL });
  const log = powertoolsLog(logger);
  const handle = makeStepHandler(enclaveStepDeps(settings, kit, log), serves);
  return async (event) => {
    try {
      return await handle(event);
    } catch (error) {
      // The step's failure is the run's record (FailRun); the log keeps the name and message, not the payload.
      log.warn('enclave step failed', { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
      throw error;
    }
  };
}
