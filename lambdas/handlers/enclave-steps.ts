/**
 * The enclave's step Lambdas: the state machine's payload (a core StepInput, built by
 * lib/constructs/enclave-state-machine.ts) parsed with zod, then `runStep`. Each function serves only its
 * own steps (one role each: the archive check cannot release, the release cannot read the raw outputs), and
 * refuses any other payload. Errors are thrown as they are: Step Functions matches their `name` in its
 * Retry (TransientError, ConcurrentUpdateError) and catches everything else into FailRun.
 */
import * as z from 'zod';
import { ValidationError } from '../core/errors.js';
import { userId } from './schemas.js';
import { runStep, type EnclaveStep, type StepDeps, type StepInput, type StepOutput } from '../core/runs/steps.js';

const id = z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, { error: 'must be 1-128 letters, digits, dots, underscores or hyphens' });
const key = { analysisId: id, runId: id };

export const stepInputSchema = z.discriminatedUnion('step', [
  // The submitter's user id names their home (a path segment under the homes: the adapter checks it again).
  z.object({ step: z.literal('archive-home'), ...key, submittedBy: userId }),
  z.object({ step: z.literal('verify-archive'), ...key, manifestDigest: z.string().regex(/^[0-9a-f]{64}$/, { error: 'must be a SHA-256 hex digest' }) }),
  z.object({ step: z.literal('request-review'), ...key, review: z.enum(['code-review', 'output-review']), taskToken: z.string().min(1).max(8192) }),
  z.object({ step: z.literal('advance'), ...key, to: z.enum(['building', 'running']) }),
  z.object({ step: z.literal('prepare-run'), ...key }),
  z.object({ step: z.literal('clean-up'), ...key }),
  z.object({ step: z.literal('collect-outputs'), ...key, exitCode: z.number().int() }),
  z.object({ step: z.literal('check-disclosure'), ...key }),
  z.object({ step: z.literal('release'), ...key }),
  z.object({
    step: z.literal('finish'),
    ...key,
    outcome: z.enum(['rejected', 'withheld', 'failed']),
    // The Catch's `{Error, Cause}` as Step Functions records it.
    error: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional(),
  }),
]);

/** A step handler for the steps `serves`: anything else (another step, a malformed payload) is refused. */
export function makeStepHandler(deps: StepDeps, serves: readonly EnclaveStep[]): (event: unknown) => Promise<StepOutput> {
  return async (event) => {
    const parsed = stepInputSchema.safeParse(event);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'payload'}: ${issue.message}`);
      throw new ValidationError(`The step payload is not valid: ${issues.join('; ')}`, issues);
    }
    if (!serves.includes(parsed.data.step)) throw new ValidationError(`This function does not run the ${parsed.data.step} step (it runs ${serves.join(', ')})`);
    return runStep(deps, parsed.data as StepInput);
  };
}
