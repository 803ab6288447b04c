import type { IdleCountdown } from '../logic/countdown.js';

/** "Your workspace will stop in m:ss because it looks idle" with one-click "Keep working". */
export function IdleBanner({ countdown, onKeepWorking }: { countdown: IdleCountdown; onKeepWorking: () => void }) {
  return (
    <div className="idle-banner" role="region" aria-label="Idle warning">
      <p className="visually-hidden" role="alert">
        Your workspace looks idle and will stop soon.
      </p>
      <p className="idle-text" data-testid="idle-countdown">
        Your workspace will stop in <span className="idle-time">{countdown.remaining}</span> because it looks idle
      </p>
      <button type="button" className="button button-primary" onClick={onKeepWorking} data-testid="keep-working">
        Keep working
      </button>
    </div>
  );
}
