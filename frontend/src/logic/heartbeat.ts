/**
 * When the page sends a heartbeat. A heartbeat says "a person is using this workspace", so the page sends
 * one only while it is visible AND the person showed presence since the previous beat (pointer, keyboard,
 * wheel, focus into the tool, the page becoming visible, "Keep working"), at most every `intervalMs`.
 */
export class HeartbeatSchedule {
  private present: boolean;
  private lastBeatAt: number | undefined;
  private sending = false;

  /** Opening the page is itself a sign of presence, unless told otherwise. */
  constructor(
    private intervalMs: number,
    options: { present?: boolean } = {},
  ) {
    this.present = options.present ?? true;
  }

  get interval(): number {
    return this.intervalMs;
  }

  setInterval(intervalMs: number): void {
    if (intervalMs > 0) this.intervalMs = intervalMs;
  }

  /** The person did something on the page (or focused the tool). */
  markPresence(): void {
    this.present = true;
  }

  /** A beat was sent and its answer has not come back yet. */
  get inFlight(): boolean {
    return this.sending;
  }

  get hasPresence(): boolean {
    return this.present;
  }

  /** A beat is due: visible, present since the last beat, none in flight, and the interval has passed. */
  isDue(nowMs: number, visible: boolean): boolean {
    if (!visible || !this.present || this.sending) return false;
    return this.lastBeatAt === undefined || nowMs - this.lastBeatAt >= this.intervalMs;
  }

  /** A beat is being sent: presence from now on counts toward the next one. */
  beatStarted(nowMs: number): void {
    this.present = false;
    this.sending = true;
    this.lastBeatAt = nowMs;
  }

  /** The server answered (even with "not running": that beat is not retried). */
  beatAnswered(): void {
    this.sending = false;
  }

  /** The beat did not reach the server: keep the presence and try again after `retryMs`. */
  beatFailed(nowMs: number, retryMs = 5_000): void {
    this.sending = false;
    this.present = true;
    this.lastBeatAt = nowMs - Math.max(0, this.intervalMs - retryMs);
  }
}
