/** The review console's decisions about a run detail; no DOM. */
import type { FindingJson, RunDetailJson, Verdict } from '../runs-types.js';
import { isRunFinished } from './runs.js';

/** A rejection needs a comment (the researcher reads it); an approval may have one. */
export function commentError(verdict: Verdict, comment: string): string | undefined {
  if (verdict === 'reject' && !comment.trim()) return 'Say why you reject: the researcher reads your comment.';
  return undefined;
}

/** The digest the decision is bound to: the code's at code review, the outputs' at output review. */
export function decisionDigest(detail: Pick<RunDetailJson, 'step' | 'manifest' | 'outputs' | 'run'>): string {
  if (detail.step === 'output-review') return detail.outputs?.digest ?? detail.run.outputsDigest ?? '';
  return detail.manifest?.digest ?? detail.run.manifestDigest ?? '';
}

/** The disclosure findings of one output file (its own list; the run's list by path if the file has none). */
export function outputFindings(detail: Pick<RunDetailJson, 'findings' | 'outputs'>, path: string): readonly FindingJson[] {
  return detail.outputs?.files.find((file) => file.path === path)?.findings ?? detail.findings.filter((finding) => finding.path === path);
}

/**
 * The run page reads the run again while it can change: often while it is not the reader's turn (the
 * system or other reviewers move it), less often while the reader may decide; never once it is finished.
 */
export function detailPollDelay(detail: Pick<RunDetailJson, 'run' | 'mayDecide'> | undefined, failures = 0): number | null {
  if (detail && isRunFinished(detail.run.state)) return null;
  if (failures) return Math.min(30_000, 3_000 * 2 ** Math.min(failures, 10));
  if (!detail) return null;
  return detail.mayDecide ? 10_000 : 3_000;
}
