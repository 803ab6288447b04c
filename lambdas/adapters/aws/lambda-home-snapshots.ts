/**
 * HomeSnapshots on AWS: the homes live on EFS, which only a Lambda in the VPC with the file system mounted
 * can read, so the submit function invokes the home-snapshot function (synchronously, bounded: the desk's
 * HTTP API answers within 30 s) and reads the manifest it stored. The manifest is read back from the run
 * objects rather than returned, because a Lambda answer is at most 6 MB and a home may hold many files.
 *
 * Failure modes: the snapshot's own answer `no-home` is NotFoundError (core makes it a 409), `exists` a
 * ConflictError; Lambda throttling, 5xx, our timeout and the function's own timeout are TransientError (503,
 * try again); a bad answer or any other function error is an Error naming the function (500).
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import * as z from 'zod';
import { ConflictError, NotFoundError, TransientError } from '../../core/errors.js';
import { IntegrityError } from '../../core/runs/manifest.js';
import type { HomeSnapshots } from '../../core/runs/api.js';
import type { Manifest } from '../../core/runs/manifest.js';
import type { ObjectStore } from '../../core/runs/ports.js';
import { readStoredManifest } from '../../core/runs/use-cases.js';
import { rethrowAwsError } from './clients/errors.js';

const runKey = (file: string) => new RegExp(`^runs/[a-z0-9][a-z0-9-]{0,62}/[A-Za-z0-9][A-Za-z0-9_-]{0,127}/${file.replace('.', '\\.')}$`);

/** What the submit function asks the home-snapshot function. */
export const snapshotRequest = z.strictObject({
  analysisId: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { error: 'analysisId must be an analysis id' }),
  userId: z.string().min(1, { error: 'userId must be set' }).max(64, { error: 'userId is too long' }),
  archiveKey: z.string().regex(runKey('home.tar.gz'), { error: 'archiveKey must be runs/<analysisId>/<runId>/home.tar.gz' }),
  manifestKey: z.string().regex(runKey('manifest.json'), { error: 'manifestKey must be runs/<analysisId>/<runId>/manifest.json' }),
});
export type SnapshotRequest = z.output<typeof snapshotRequest>;

/** Its answer: the manifest's digest (the manifest itself is in the run objects), or why there is none. */
export const snapshotResponse = z.discriminatedUnion('ok', [
  z.strictObject({ ok: z.literal(true), digest: z.string().regex(/^[0-9a-f]{64}$/), files: z.number().int().min(0), totalBytes: z.number().int().min(0) }),
  z.strictObject({ ok: z.literal(false), reason: z.enum(['no-home', 'exists', 'invalid']), message: z.string() }),
]);
export type SnapshotResponse = z.output<typeof snapshotResponse>;

export interface LambdaHomeSnapshotsOptions {
  /** The home-snapshot function (name or ARN). */
  readonly functionName: string;
  /** How long the submit waits for it (below the HTTP API's 30 s). */
  readonly timeoutMs: number;
}

export class LambdaHomeSnapshots implements HomeSnapshots {
  constructor(
    private readonly lambda: LambdaClient,
    private readonly objects: ObjectStore,
    private readonly options: LambdaHomeSnapshotsOptions,
  ) {}

  async snapshot(home: { readonly analysisId: string; readonly userId: string }, keys: { readonly archiveKey: string; readonly manifestKey: string }): Promise<Manifest> {
    const request: SnapshotRequest = { analysisId: home.analysisId, userId: home.userId, archiveKey: keys.archiveKey, manifestKey: keys.manifestKey };
    const answer = await this.invoke(request);
    if (!answer.ok) {
      if (answer.reason === 'no-home') throw new NotFoundError(answer.message);
      if (answer.reason === 'exists') throw new ConflictError(answer.message);
      throw new Error(`The home snapshot refused the request: ${answer.message}`);
    }
    const manifest = await readStoredManifest(this.objects, keys.manifestKey);
    if (manifest.digest !== answer.digest) throw new IntegrityError(`The stored manifest ${keys.manifestKey} (digest ${manifest.digest}) is not the one the snapshot made (${answer.digest})`);
    return manifest;
  }

  private async invoke(request: SnapshotRequest): Promise<SnapshotResponse> {
    let out;
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abort.abort();
        reject(new TransientError(`Archiving the home took longer than ${Math.round(this.options.timeoutMs / 1000)} s; try again`));
      }, this.options.timeoutMs);
    });
    try {
      const invoke = this.lambda.send(new InvokeCommand({ FunctionName: this.options.functionName, InvocationType: 'RequestResponse', Payload: Buffer.from(JSON.stringify(request)) }), {
        abortSignal: abort.signal,
      });
      out = await Promise.race([invoke, bound]);
    } catch (error) {
      if (error instanceof TransientError) throw error;
      return rethrowAwsError(error, 'Archiving the home');
    } finally {
      clearTimeout(timer);
    }
    const text = out.Payload ? Buffer.from(out.Payload).toString('utf8') : '';
    if (out.FunctionError) {
      // The function threw (or Lambda stopped it): errorType/errorMessage in the payload, never the home's content.
      const failure = safeJson(text) as { errorType?: string; errorMessage?: string } | undefined;
      const what = `${failure?.errorType ?? out.FunctionError}: ${failure?.errorMessage ?? 'no message'}`;
      if (failure?.errorType === 'TransientError' || /Sandbox\.Timedout|Task timed out/.test(what)) throw new TransientError(`Archiving the home failed for now (${what}); try again`);
      throw new Error(`The home snapshot function failed: ${what}`);
    }
    const parsed = snapshotResponse.safeParse(safeJson(text));
    if (!parsed.success) throw new Error(`The home snapshot function answered something unexpected: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
    return parsed.data;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
