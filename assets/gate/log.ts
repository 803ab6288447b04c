/**
 * One JSON line per event on stdout. Callers pass only plain facts: never a cookie, a token, a header
 * value or a query string (paths are logged without their query, which may carry tool tokens).
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export type LogSink = (line: string) => void;

export function createLogger(sink: LogSink = (line) => process.stdout.write(line + '\n'), now: () => Date = () => new Date(), minLevel: LogLevel = 'info'): Logger {
  const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
  const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (order[level] < order[minLevel]) return;
    sink(JSON.stringify({ time: now().toISOString(), level, service: 'carrel-gate', msg, ...fields }));
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
  };
}

/** The path of a request URL without its query string or fragment (safe to log). */
export function pathOnly(url: string | undefined): string {
  if (!url) return '';
  const cut = url.search(/[?#]/);
  return (cut === -1 ? url : url.slice(0, cut)).slice(0, 300);
}

/** An error's class and code, never its message text from user input. */
export function describeError(error: unknown): LogFields {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error.cause as NodeJS.ErrnoException | undefined)?.code;
    return { error: error.name, code: typeof code === 'string' ? code : undefined, detail: error.message.slice(0, 200) };
  }
  return { error: String(error).slice(0, 200) };
}
