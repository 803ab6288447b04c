/**
 * The enclave run routes (docs/contracts.md, "Enclave runs"): each reads the request (size, JSON), identifies
 * the caller, validates path, query and body with zod, calls one use case of core/runs/api.ts and answers
 * with run views. Errors go through the one mapper in http.ts.
 */
import * as z from 'zod';
import {
  decideOnRun,
  downloadOutputs,
  downloadOutputsLink,
  listRuns,
  parseRunRef,
  reviewQueue,
  reviewStanding,
  runDetail,
  runFile,
  runRef,
  submitHome,
  type Run,
  type RunApiDeps,
  type RunKey,
} from '../core/runs/index.js';
import { NotFoundError, type User } from '../core/index.js';
import type { AppDeps } from './app.js';
import { header, json, parseCookies, readJsonBody, route, validate, type HttpEvent, type HttpHandler, type HttpResult } from './http.js';
import { analysisId, emptyBody } from './schemas.js';

// "is required" only when the field is absent: a number where a string belongs is a wrong type, not a missing field.
const requiredString = (what: string) => (issue: { input?: unknown }) => (issue.input === undefined ? `is required (${what})` : 'must be a string');

const unexpected = (issue: { code: string; keys?: readonly string[] }, shape: string) =>
  issue.code === 'unrecognized_keys' ? `has unexpected field(s): ${issue.keys!.join(', ')}` : `must be a JSON object ${shape}`;

export const submitBody = z.strictObject(
  { description: z.string({ error: requiredString('a short description of the run') }).trim().min(1, { error: 'must not be empty' }).max(500, { error: 'must be at most 500 characters' }) },
  { error: (issue) => unexpected(issue as never, '{"description": string}') },
);

export const decisionBody = z.strictObject(
  {
    verdict: z.enum(['approve', 'reject'], { error: 'must be "approve" or "reject"' }),
    comment: z.string({ error: 'must be a string' }).max(2000, { error: 'must be at most 2000 characters' }).default(''),
    manifestDigest: z.string({ error: requiredString('the digest of the manifest the page showed') }).regex(/^[0-9a-f]{64}$/, { error: 'must be a SHA-256 hex digest' }),
  },
  { error: (issue) => unexpected(issue as never, '{"verdict": "approve"|"reject", "comment": string, "manifestDigest": string}') },
);

const strictQuery = <T extends z.ZodRawShape>(shape: T) =>
  z.strictObject(shape, { error: (issue) => (issue.code === 'unrecognized_keys' ? `has unexpected parameter(s): ${(issue as { keys: string[] }).keys.join(', ')}` : 'is malformed') });

export const queueQuery = strictQuery({ step: z.enum(['code-review', 'output-review'], { error: 'must be code-review or output-review' }).optional() });
export const fileQuery = strictQuery({
  from: z.enum(['code', 'outputs'], { error: 'must be code or outputs' }).default('code'),
  diff: z.enum(['true', 'false'], { error: 'must be true or false' }).default('false'),
});
export const downloadQuery = strictQuery({
  token: z.string({ error: 'is required (the link from the runs page or the email)' }).min(1, { error: 'must not be empty' }).max(4096, { error: 'is too long' }),
  path: z.string().min(1, { error: 'must not be empty' }).max(1024, { error: 'is too long' }).optional(),
});

const analysisPath = z.object({ analysisId }, { error: 'must name an analysis' });
const runPath = z.object({ runId: z.string({ error: 'is required' }).max(200, { error: 'is too long' }) }, { error: 'must name a run' });
const filePath = runPath.extend({ path: z.string({ error: 'is required' }).min(1, { error: 'must name a file' }).max(1024, { error: 'is too long' }) });

type Deps = AppDeps;

function enclaveOf(deps: Deps): RunApiDeps {
  if (!deps.enclave) throw new NotFoundError('Enclave runs are not set up in this deployment');
  return deps.enclave;
}

async function caller(deps: Deps, event: HttpEvent): Promise<User> {
  return deps.identity.authenticate({ cookies: parseCookies(event), authorization: header(event, 'authorization') });
}

function runKeyOf(event: HttpEvent): RunKey {
  return parseRunRef(validate(runPath, event.pathParameters ?? {}, 'path').runId);
}

/** What every route shows of a run (never the task token or object keys). */
export interface RunViewJson {
  readonly id: string;
  readonly analysisId: string;
  readonly runId: string;
  readonly state: Run['state'];
  readonly description: string;
  readonly submittedBy: string;
  readonly createdAt: string;
  readonly stateEnteredAt: string;
  readonly deadlineAt?: string;
  /** Absent while the home is being archived (`archiving`), and on a run that failed there. */
  readonly manifestDigest?: string;
  readonly outputsDigest?: string;
  readonly decisions: Run['decisions'];
  readonly findingsCount: number;
  readonly failure?: Run['failure'];
  readonly releaseExpiresAt?: string;
  readonly download?: { readonly url: string; readonly expiresAt: string };
}

export async function runView(enclave: RunApiDeps, run: Run, options: { withDownload?: boolean } = {}): Promise<RunViewJson> {
  const now = enclave.clock.now();
  const open = run.state === 'released' && run.releaseExpiresAt !== undefined && now.toISOString() < run.releaseExpiresAt;
  const download = options.withDownload && open ? { url: await enclave.links.link(run, new Date(run.releaseExpiresAt!)), expiresAt: run.releaseExpiresAt! } : undefined;
  return {
    id: runRef(run),
    analysisId: run.analysisId,
    runId: run.runId,
    state: run.state,
    description: run.description,
    submittedBy: run.submittedBy,
    createdAt: run.createdAt,
    stateEnteredAt: run.stateEnteredAt,
    ...(run.deadlineAt ? { deadlineAt: run.deadlineAt } : {}),
    ...(run.manifestDigest ? { manifestDigest: run.manifestDigest } : {}),
    ...(run.outputsDigest ? { outputsDigest: run.outputsDigest } : {}),
    decisions: run.decisions,
    findingsCount: run.findings?.length ?? 0,
    ...(run.failure ? { failure: run.failure } : {}),
    ...(run.releaseExpiresAt ? { releaseExpiresAt: run.releaseExpiresAt } : {}),
    ...(download ? { download } : {}),
  };
}

/** `POST /api/analyses/{analysisId}/runs` → 202 with the new run. */
export function makeSubmitRunHandler(deps: Deps): HttpHandler {
  return route(deps.log, async (event) => {
    const body = readJsonBody(event);
    const user = await caller(deps, event);
    const { analysisId: id } = validate(analysisPath, event.pathParameters ?? {}, 'path');
    const { description } = validate(submitBody, body, 'body');
    const enclave = enclaveOf(deps);
    const run = await submitHome(enclave, user, id, description);
    return json(202, await runView(enclave, run));
  });
}

/** `GET /api/analyses/{analysisId}/runs` → the analysis's runs, newest first. */
export function makeListRunsHandler(deps: Deps): HttpHandler {
  return route(deps.log, async (event) => {
    const body = readJsonBody(event);
    const user = await caller(deps, event);
    const { analysisId: id } = validate(analysisPath, event.pathParameters ?? {}, 'path');
    validate(emptyBody, body, 'body');
    const enclave = enclaveOf(deps);
    const runs = await listRuns(enclave, user, id);
    return json(200, { runs: await Promise.all(runs.map((run) => runView(enclave, run, { withDownload: true }))) });
  });
}

/** `GET /api/review/queue[?step=]` → runs waiting for review, oldest first, with how long they waited. */
export function makeReviewQueueHandler(deps: Deps): HttpHandler {
  return route(deps.log, async (event) => {
    const body = readJsonBody(event);
    const user = await caller(deps, event);
    const { step } = validate(queueQuery, event.queryStringParameters ?? {}, 'query');
    validate(emptyBody, body, 'body');
    const enclave = enclaveOf(deps);
    const now = enclave.clock.now();
    const runs = await reviewQueue(enclave, user, step);
    const views = await Promise.all(
      runs.map(async (run) => ({
        ...(await runView(enclave, run)),
        step: run.state,
        waitingSeconds: Math.max(0, Math.floor((now.getTime() - Date.parse(run.stateEnteredAt)) / 1000)),
        ...reviewStanding(enclave, user, run),
      })),
    );
    return json(200, { serverTime: now.toISOString(), runs: views });
  });
}

/** `GET /api/runs/{id}` → the run, its manifest and diff, outputs with findings, and its audit log. */
export function makeGetRunHandler(deps: Deps): HttpHandler {
  return route(deps.log, async (event) => {
    const body = readJsonBody(event);
    const user = await caller(deps, event);
    const key = runKeyOf(event);
    validate(emptyBody, body, 'body');
    const enclave = enclaveOf(deps);
    const detail = await runDetail(enclave, user, key);
    const { run } = detail;
    const findings = run.findings ?? [];
    return json(200, {
      run: await runView(enclave, run, { withDownload: run.submittedBy === user.userId }),
      ...(run.state === 'code-review' || run.state === 'output-review' ? { step: run.state } : {}),
      ...detail.standing,
      requiredApprovals: enclave.policy.requiredApprovals,
      smallCountThreshold: enclave.limits.smallCountThreshold,
      ...(detail.manifest
        ? { manifest: { digest: detail.manifest.digest, totalBytes: detail.manifest.totalBytes, files: detail.manifest.files.map((f) => ({ ...f, change: detail.changes[f.path] })) } }
        : {}),
      diff: {
        baseline: detail.diff.baseline ? { id: runRef(detail.diff.baseline), createdAt: detail.diff.baseline.createdAt } : null,
        added: detail.diff.added,
        removed: detail.diff.removed,
        changed: detail.diff.changed,
      },
      ...(detail.outputs
        ? {
            outputs: {
              digest: detail.outputs.digest,
              totalBytes: detail.outputs.totalBytes,
              files: detail.outputs.files.map((f) => ({ ...f, findings: findings.filter((x) => x.path === f.path) })),
            },
          }
        : {}),
      findings,
      audit: detail.audit.map(({ at, actor, action, step, comment, manifestDigest }) => ({
        at,
        actor,
        action,
        ...(step ? { step } : {}),
        ...(comment ? { comment } : {}),
        ...(manifestDigest ? { manifestDigest } : {}),
      })),
    });
  });
}

const MEDIA_TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  svg: 'image/svg+xml',
  pdf: 'application/pdf',
  csv: 'text/csv',
  tsv: 'text/tab-separated-values',
  json: 'application/json',
  md: 'text/markdown',
  html: 'text/html',
};

export function mediaTypeOf(path: string, kind: 'text' | 'binary'): string {
  const ext = /\.([A-Za-z0-9]+)$/.exec(path)?.[1]?.toLowerCase() ?? '';
  return MEDIA_TYPES[ext] ?? (kind === 'text' ? 'text/plain' : 'application/octet-stream');
}

/** `GET /api/runs/{id}/files/{path+}[?from=code|outputs][&diff=true]` → one file, size-capped, text or base64. */
export function makeRunFileHandler(deps: Deps): HttpHandler {
  return route(deps.log, async (event) => {
    const body = readJsonBody(event);
    const user = await caller(deps, event);
    const params = validate(filePath, event.pathParameters ?? {}, 'path');
    const key = parseRunRef(params.runId);
    const query = validate(fileQuery, event.queryStringParameters ?? {}, 'query');
    validate(emptyBody, body, 'body');
    const view = await runFile(enclaveOf(deps), user, key, { path: params.path, from: query.from, diff: query.diff === 'true' });
    return json(200, {
      path: view.entry.path,
      from: query.from,
      size: view.entry.size,
      sha256: view.entry.sha256,
      kind: view.kind,
      mediaType: mediaTypeOf(view.entry.path, view.kind),
      ...(view.kind === 'text' ? { text: view.bytes.toString('utf8') } : { base64: view.bytes.toString('base64') }),
      truncated: view.truncated,
      ...(view.diff ? { diff: { baseline: view.diff.baseline ? runRef(view.diff.baseline) : null, unified: view.diff.unified } } : {}),
    });
  });
}

/** `POST /api/runs/{id}/decisions` → the run and the step's outcome so far. */
export function makeDecideRunHandler(deps: Deps): HttpHandler {
  return route(deps.log, async (event) => {
    const body = readJsonBody(event);
    const user = await caller(deps, event);
    const key = runKeyOf(event);
    const input = validate(decisionBody, body, 'body');
    const enclave = enclaveOf(deps);
    const { run, outcome } = await decideOnRun(enclave, user, key, input);
    return json(200, { run: await runView(enclave, run), outcome });
  });
}

/**
 * `GET /api/runs/{id}/download?token=[&path=]` → the released bytes, checked against the approved manifest; on
 * AWS the whole archive is a 303 to a short presigned link to exactly the checked object version.
 */
export function makeDownloadRunHandler(deps: Deps): HttpHandler {
  return route(deps.log, async (event): Promise<HttpResult> => {
    const body = readJsonBody(event);
    const user = await caller(deps, event);
    const key = runKeyOf(event);
    const query = validate(downloadQuery, event.queryStringParameters ?? {}, 'query');
    validate(emptyBody, body, 'body');
    const enclave = enclaveOf(deps);
    if (query.path === undefined && enclave.checkedLinks) {
      // The whole archive: the version pinned at collect and checked at release, served by the store (S3) from a short link.
      const link = await downloadOutputsLink(enclave, user, key, query.token);
      return {
        statusCode: 303,
        headers: { location: link.url, 'x-carrel-sha256': link.sha256, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' },
        body: '',
      };
    }
    const download = await downloadOutputs(enclave, user, key, query.token, query.path);
    const name = (download.path ?? `${key.runId}-outputs.tar.gz`).split('/').pop()!.replace(/[^A-Za-z0-9._-]/g, '_');
    return {
      statusCode: 200,
      headers: {
        'content-type': download.path ? 'application/octet-stream' : 'application/gzip',
        'content-disposition': `attachment; filename="${name}"`,
        'x-carrel-sha256': download.sha256,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
      },
      body: download.bytes.toString('base64'),
      isBase64Encoded: true,
    };
  });
}
