/**
 * The contract between the enclave state machine and the code behind its Lambda steps: each Lambda
 * task's payload carries `step` and the run's key, and `runStep` dispatches it to one use case. The
 * CDK construct builds the payloads from these names; the step Lambda (AWS) and the local runner
 * (local/enclave/) both call `runStep`, so the two never disagree on what a step does.
 */
import type { DisclosureChecker, HomeSnapshots, OutputsCollector, RunCredentials, RunDeps } from './deps.js';
import type { ReviewStep, RunKey } from './run.js';
import {
  advanceRun,
  archiveHome,
  checkDisclosure,
  cleanUpRun,
  collectOutputs,
  finishRun,
  prepareRun,
  releaseRun,
  requestReview,
  verifyArchive,
  type HomeArchived,
  type StepError,
} from './use-cases.js';

export const ENCLAVE_STEPS = [
  'archive-home',
  'verify-archive',
  'request-review',
  'advance',
  'prepare-run',
  'clean-up',
  'collect-outputs',
  'check-disclosure',
  'release',
  'finish',
] as const;
export type EnclaveStep = (typeof ENCLAVE_STEPS)[number];

export type StepInput = RunKey &
  (
    // The submitter comes with the step: archiving needs no run record (on AWS, no table access).
    | { readonly step: 'archive-home'; readonly submittedBy: string }
    | { readonly step: 'verify-archive'; readonly manifestDigest: string }
    | { readonly step: 'request-review'; readonly review: ReviewStep; readonly taskToken: string }
    | { readonly step: 'advance'; readonly to: 'building' | 'running' }
    | { readonly step: 'prepare-run' }
    | { readonly step: 'clean-up' }
    | { readonly step: 'collect-outputs'; readonly exitCode: number }
    | { readonly step: 'check-disclosure' }
    | { readonly step: 'release' }
    | { readonly step: 'finish'; readonly outcome: 'rejected' | 'withheld' | 'failed'; readonly error?: StepError }
  );

/**
 * What a step returns to the state machine: small, since the run record holds the state. The archive step
 * returns what it archived (the verify step takes the digest from there).
 */
export type StepOutput = { readonly state: string } | HomeArchived;

export type StepDeps = RunDeps & {
  readonly collector: OutputsCollector;
  readonly checker: DisclosureChecker;
  readonly credentials: RunCredentials;
  readonly snapshots: HomeSnapshots;
};

export async function runStep(deps: StepDeps, input: StepInput): Promise<StepOutput> {
  const key: RunKey = { analysisId: input.analysisId, runId: input.runId };
  switch (input.step) {
    case 'archive-home':
      return archiveHome(deps, key, input.submittedBy);
    case 'verify-archive':
      await verifyArchive(deps, key, input.manifestDigest);
      return { state: 'submitted' };
    case 'request-review':
      return { state: (await requestReview(deps, key, input.review, input.taskToken)).state };
    case 'advance':
      return { state: (await advanceRun(deps, key, input.to)).state };
    case 'prepare-run':
      return { state: (await prepareRun(deps, key)).state };
    case 'clean-up':
      return { state: (await cleanUpRun(deps, key)).state };
    case 'collect-outputs':
      return { state: (await collectOutputs(deps, key, input.exitCode)).state };
    case 'check-disclosure':
      return { state: (await checkDisclosure(deps, key)).state };
    case 'release':
      return { state: (await releaseRun(deps, key)).state };
    case 'finish':
      return { state: (await finishRun(deps, key, input.outcome, input.error)).state };
  }
}
