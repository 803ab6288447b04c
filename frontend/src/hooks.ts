import { useCallback, useEffect, useRef, useState } from 'react';
import type { ApiResult } from './api.js';
import { goToSignIn } from './navigation.js';

export interface Loaded<T> {
  readonly data?: T;
  /** The server's message when the last read failed (the data, if any, is the previous answer). */
  readonly error?: string;
  readonly status?: number;
  readonly loading: boolean;
  reload(): void;
}

/**
 * Reads `load` now and again after `nextDelay(last good data, failures)` ms (null: stop until reload). A 401 goes to
 * sign-in. Reads never overlap; an unmounted page stops reading.
 */
export function usePolled<T>(load: () => Promise<ApiResult<T>>, nextDelay: (data: T | undefined, failures: number) => number | null, deps: readonly unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: string; status?: number; loading: boolean }>({ loading: true });
  const timer = useRef<number | undefined>(undefined);
  const generation = useRef(0);
  const failures = useRef(0);
  const last = useRef<T | undefined>(undefined);
  const [kick, setKick] = useState(0);

  useEffect(() => {
    const mine = ++generation.current;
    let live = true;
    const read = async () => {
      const result = await load();
      if (!live || mine !== generation.current) return;
      if (!result.ok && result.status === 401) return goToSignIn();
      if (result.ok) {
        failures.current = 0;
        last.current = result.data;
        setState({ data: result.data, loading: false });
      } else {
        failures.current++;
        setState((previous) => ({ data: previous.data, error: result.message, status: result.status, loading: false }));
      }
      const delay = nextDelay(last.current, failures.current);
      if (delay !== null) timer.current = window.setTimeout(() => void read(), delay);
    };
    void read();
    return () => {
      live = false;
      window.clearTimeout(timer.current);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, kick]);

  const reload = useCallback(() => setKick((k) => k + 1), []);
  return { ...state, reload };
}

/** The local clock, ticking every `everyMs` (for "waiting 3 min" texts). */
export function useNow(everyMs = 1_000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const handle = window.setInterval(() => setNow(Date.now()), everyMs);
    return () => window.clearInterval(handle);
  }, [everyMs]);
  return now;
}
