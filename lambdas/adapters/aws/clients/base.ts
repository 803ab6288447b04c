/**
 * What every SDK client factory shares (one small module per service sits beside this one: dynamodb.ts,
 * kms.ts, ec2.ts, ...). Each client is created once per configuration (per endpoint, region and
 * credentials) and reused; code that uses a client takes it injected.
 *
 * One module per service so that a Lambda bundle holds only the SDK clients its entry point wires: a module
 * that imported every client would put all of them into every function (slower cold starts).
 *
 * Production passes no options (region and credentials come from the Lambda environment). Local mode
 * and tests pass `localAwsOptions(endpoint)` to talk to dynalite with dummy credentials.
 *
 * To add a client: a new `<service>.ts` here with one factory that calls `memoized` with its own `kind`
 * and `baseConfig(options)`, exactly like `kmsClient` in kms.ts.
 */

export interface AwsClientOptions {
  /** Service endpoint override (e.g. `http://127.0.0.1:4567` for dynalite). */
  readonly endpoint?: string;
  readonly region?: string;
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  /** SDK retry attempts (the SDK default is 3). */
  readonly maxAttempts?: number;
}

/** Options for a local endpoint: dummy credentials and region, so no AWS account is involved. */
export function localAwsOptions(endpoint: string): AwsClientOptions {
  return {
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  };
}

interface Destroyable {
  destroy(): void;
}

const cache = new Map<string, Destroyable>();

function configKey(options: AwsClientOptions): string {
  return [options.endpoint ?? '', options.region ?? '', options.credentials?.accessKeyId ?? '', options.maxAttempts ?? ''].join('|');
}

/** Create a client of `kind` for these options once; later calls return the same instance. */
export function memoized<T extends Destroyable>(kind: string, options: AwsClientOptions, create: () => T): T {
  const key = `${kind}|${configKey(options)}`;
  let client = cache.get(key) as T | undefined;
  if (!client) {
    client = create();
    cache.set(key, client);
  }
  return client;
}

/** The SDK client configuration for `options` (only what is set: the SDK's defaults otherwise). */
export function baseConfig(options: AwsClientOptions) {
  return {
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.region ? { region: options.region } : {}),
    ...(options.credentials ? { credentials: { ...options.credentials } } : {}),
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
  };
}

/**
 * Control-plane APIs with low request-rate limits (EC2, ECS, EFS, Route 53: a few requests per second per
 * account) retry with the SDK's adaptive mode, which backs off client-side on throttling.
 */
export const ADAPTIVE = { retryMode: 'adaptive' as const, maxAttempts: 5 };

/**
 * Destroy the clients created here (closes their sockets) and forget them: all of them, or only those
 * made for `options` (a test or the local runtime shutting down its own endpoint).
 */
export function destroyClients(options?: AwsClientOptions): void {
  const suffix = options ? `|${configKey(options)}` : undefined;
  for (const [key, client] of cache) {
    if (suffix && !key.endsWith(suffix)) continue;
    client.destroy();
    cache.delete(key);
  }
}
