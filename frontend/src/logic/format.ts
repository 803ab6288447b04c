/** Text helpers shared by the pages; no DOM. */

function minutesSeconds(totalSeconds: number): string {
  const minutes = Math.floor(totalSeconds / 60);
  const seconds = totalSeconds % 60;
  return `${minutes}:${String(seconds).padStart(2, '0')}`;
}

/** Time remaining as m:ss, rounded up (a countdown shows 1:00 for the whole first second of a minute). */
export function formatCountdown(remainingMs: number): string {
  return minutesSeconds(Math.max(0, Math.ceil(remainingMs / 1000)));
}

/** Time elapsed as m:ss, rounded down. */
export function formatElapsed(elapsedMs: number): string {
  return minutesSeconds(Math.max(0, Math.floor(elapsedMs / 1000)));
}

/** "about N s left" from the view's estimate; "almost there" once the estimate runs out. */
export function timeLeftText(estimatedSecondsLeft: number): string {
  const seconds = Math.round(estimatedSecondsLeft);
  if (!(seconds > 0)) return 'almost there';
  return `about ${seconds} s left`;
}

/** A server reason ("Stopped by alice") as it reads inside a sentence ("stopped by alice"). */
export function inSentence(reason: string): string {
  const trimmed = reason.trim().replace(/\.$/, '');
  if (/^[A-Z][a-z]/.test(trimmed)) return trimmed[0].toLowerCase() + trimmed.slice(1);
  return trimmed;
}

const STATE_LABELS: Record<string, string> = {
  starting: 'Starting',
  provisioning: 'Preparing',
  ready: 'Running',
  stopping: 'Stopping',
  stopped: 'Stopped',
  terminating: 'Shutting down',
  terminated: 'Shut down',
  failed: 'Failed',
};

export function stateLabel(state: string): string {
  return STATE_LABELS[state] ?? state;
}

export function toolLabel(tool: string): string {
  const known: Record<string, string> = { jupyter: 'Jupyter', rstudio: 'RStudio' };
  return known[tool] ?? tool;
}
