/**
 * The one NodejsFunction subclass: every carrel Lambda gets the same defaults (runtime, architecture,
 * tracing, logging, bundling) here, and its own least-privilege role.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

/** The repository root (this file lives in `<root>/lib`). */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Where the Lambda entry points live: `<root>/lambdas/handlers/entry/<name>.ts`, each `export const handler`. */
export const ENTRY_DIR = join(PROJECT_ROOT, 'lambdas', 'handlers', 'entry');

/** The newest Node.js runtime this aws-cdk-lib offers (Lambda runs the latest Node the CDK knows). */
export const LATEST_NODE_RUNTIME = lambda.Runtime.NODEJS_24_X;

/**
 * ESM bundles may contain CommonJS dependencies that call `require`, `__filename` or `__dirname`;
 * this banner gives them the Node equivalents.
 */
const ESM_BANNER = [
  "import { createRequire as __carrelCreateRequire } from 'node:module';",
  "import { fileURLToPath as __carrelFileURLToPath } from 'node:url';",
  "import { dirname as __carrelDirname } from 'node:path';",
  'const require = __carrelCreateRequire(import.meta.url);',
  'const __filename = __carrelFileURLToPath(import.meta.url);',
  'const __dirname = __carrelDirname(__filename);',
].join(' ');

export interface CarrelFunctionProps {
  /** Entry point name: bundles `<entryDir>/<name>.ts`; also names the service in the logs. */
  readonly name: string;
  /** What the function does (shown in the Lambda console). @default - none */
  readonly description?: string;
  /** Environment variables, merged over the Powertools defaults. @default - none */
  readonly environment?: Readonly<Record<string, string>>;
  /** @default Duration.seconds(10) */
  readonly timeout?: Duration;
  /** Memory in MiB (also buys CPU on Lambda). @default 512 */
  readonly memorySize?: number;
  /** Retention of the function's log group. @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
  /** Powertools log level. @default 'INFO' */
  readonly logLevel?: string;
  /** Powertools service name. @default `carrel-<name>` */
  readonly serviceName?: string;
  /** Folder of the entry points. @default ENTRY_DIR (lambdas/handlers/entry) */
  readonly entryDir?: string;
  /** Retries of asynchronous invocations (EventBridge). @default 2 (the Lambda default) */
  readonly retryAttempts?: number;
  /** How long an asynchronous event may wait to be processed. @default Duration.hours(6) (the Lambda default) */
  readonly maxEventAge?: Duration;
}

/**
 * A Node.js Lambda with carrel's defaults:
 *  - the latest Node.js runtime, arm64, X-Ray tracing active;
 *  - an explicit log group with retention (not the implicit `/aws/lambda/...` group without expiry);
 *  - its own role that may write only to that log group and send X-Ray traces (no managed policies);
 *    grant it exactly what it needs with `grantActions` / `addToRolePolicy`;
 *  - an ESM bundle (local esbuild, no Docker) minified with source maps.
 */
export class CarrelFunction extends NodejsFunction {
  /** The entry point name (`me`, `open`, ...). */
  readonly entryName: string;
  /** The function's log group (explicit, with retention). */
  readonly functionLogGroup: logs.LogGroup;
  /** The function's own execution role. */
  declare readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: CarrelFunctionProps) {
    const entry = join(props.entryDir ?? ENTRY_DIR, `${props.name}.ts`);
    if (!existsSync(entry)) {
      throw new Error(`CarrelFunction ${props.name}: entry point ${entry} does not exist (expected lambdas/handlers/entry/${props.name}.ts)`);
    }

    // The log group and the role are created before the function so the function can use them;
    // they are siblings of the function in the construct tree: `<id>LogGroup`, `<id>Role`.
    const logGroup = new logs.LogGroup(scope, `${id}LogGroup`, {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `carrel ${props.name} function`,
    });
    // Logs only to its own group (instead of the AWSLambdaBasicExecutionRole managed policy, which allows every group).
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }),
    );

    super(scope, id, {
      entry,
      handler: 'handler',
      runtime: LATEST_NODE_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      description: props.description,
      timeout: props.timeout ?? Duration.seconds(10),
      memorySize: props.memorySize ?? 512,
      role,
      logGroup,
      retryAttempts: props.retryAttempts,
      maxEventAge: props.maxEventAge,
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      environment: {
        POWERTOOLS_SERVICE_NAME: props.serviceName ?? `carrel-${props.name}`,
        POWERTOOLS_LOG_LEVEL: props.logLevel ?? 'INFO',
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: {
        format: OutputFormat.ESM,
        mainFields: ['module', 'main'],
        target: 'node24',
        minify: true,
        sourceMap: true,
        sourceMapMode: SourceMapMode.DEFAULT,
        sourcesContent: false,
        banner: ESM_BANNER,
        // Bundle the AWS SDK too: the versions the tests ran against, not whatever the runtime ships.
        externalModules: [],
        forceDockerBundling: false,
      },
    });
    this.entryName = props.name;
    this.functionLogGroup = logGroup;

    // X-Ray: tracing is switched on at the resource, and the two write-only X-Ray actions go into a
    // dedicated policy rather than the role's default policy, so the one Resource "*" they need (X-Ray has
    // no resource-level permissions) is acknowledged on that policy alone: a later grant with a wildcard
    // on the default policy is still reported by cdk-nag.
    (this.node.defaultChild as lambda.CfnFunction).tracingConfig = { mode: lambda.Tracing.ACTIVE };
    const xray = new iam.Policy(this, 'XRayPolicy', {
      statements: [new iam.PolicyStatement({ actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], resources: ['*'] })],
    });
    role.attachInlinePolicy(xray);
    Validations.of(xray).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'xray:PutTraceSegments and xray:PutTelemetryRecords do not support resource-level permissions (AWS service authorization reference); this policy holds only these two write-only trace actions.',
    });
  }

  /** Allow `actions` on exactly `resources` (ARNs), in the function's own role. */
  grantActions(actions: readonly string[], resources: readonly string[]): void {
    if (resources.length === 0 || actions.length === 0) return;
    this.addToRolePolicy(new iam.PolicyStatement({ actions: [...actions], resources: [...resources] }));
  }
}
