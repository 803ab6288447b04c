/**
 * The one NodejsFunction subclass: every carrel Lambda gets the same defaults (runtime, architecture,
 * tracing, logging, bundling) here, and its own least-privilege role.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Size, Stack, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, SourceMapMode, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
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

/**
 * How every carrel Lambda is bundled (CarrelFunction passes this to NodejsFunction; the bundle-size test and
 * benchmark run esbuild with the same options). An ESM bundle minified with source maps: with `module`
 * first in mainFields esbuild reads the SDK's ES modules, whose `sideEffects: false` lets it drop what a
 * function never references, so a function carries only the SDK clients its entry point wires.
 */
export function carrelBundling(props: Pick<CarrelFunctionProps, 'optionalNativeAddons' | 'afterBundling'> = {}): BundlingOptions {
  return {
    format: OutputFormat.ESM,
    mainFields: ['module', 'main'],
    target: 'node24',
    minify: true,
    sourceMap: true,
    sourceMapMode: SourceMapMode.DEFAULT,
    sourcesContent: false,
    banner: ESM_BANNER,
    // Bundle the AWS SDK too: the versions the tests ran against, not whatever the runtime ships.
    externalModules: props.optionalNativeAddons ? ['*.node'] : [],
    forceDockerBundling: false,
    commandHooks: props.afterBundling
      ? { beforeBundling: () => [], beforeInstall: () => [], afterBundling: props.afterBundling }
      : undefined,
  };
}

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
  /** Where asynchronous events go that still fail after the retries (or grow too old). @default - dropped */
  readonly onFailure?: lambda.IDestination;
  /**
   * Run the function in this VPC (its subnets and security groups below). @default - outside any VPC
   */
  readonly vpc?: ec2.IVpc;
  /** The role's name, when another stack must name it (an EFS file-system policy). @default - generated */
  readonly roleName?: string;
  /** A file system to mount (EFS access point); its `policies` are all the role gets for it. @default - none */
  readonly filesystem?: lambda.FileSystem;
  /** /tmp size in MiB (512-10240). @default 512 */
  readonly ephemeralStorageMiB?: number;
  /** Subnets of `vpc`. @default - the VPC's private subnets */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** Security groups of the function's network interfaces (with `vpc`). */
  readonly securityGroups?: ec2.ISecurityGroup[];
  /**
   * Shell commands run after esbuild, e.g. to put files next to the bundle (they run in the project root).
   * @default - none
   */
  readonly afterBundling?: (inputDir: string, outputDir: string) => string[];
  /**
   * Leave native addons (`*.node`) out of the bundle, for dependencies that load them optionally inside
   * try/catch and fall back to JavaScript (ssh2's sshcrypto.node and cpu-features). @default false
   */
  readonly optionalNativeAddons?: boolean;
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
      ...(props.roleName ? { roleName: props.roleName } : {}),
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
      onFailure: props.onFailure,
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      securityGroups: props.securityGroups,
      filesystem: props.filesystem,
      ...(props.ephemeralStorageMiB ? { ephemeralStorageSize: Size.mebibytes(props.ephemeralStorageMiB) } : {}),
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      environment: {
        POWERTOOLS_SERVICE_NAME: props.serviceName ?? `carrel-${props.name}`,
        POWERTOOLS_LOG_LEVEL: props.logLevel ?? 'INFO',
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: carrelBundling(props),
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

    if (props.vpc) this.vpcAccessPolicy = addVpcAccessPolicy(this, role);
  }

  /**
   * In a VPC: what the Lambda service needs to manage the function's network interfaces (instead of the
   * AWSLambdaVPCAccessExecutionRole managed policy), denied to the function's own code.
   */
  readonly vpcAccessPolicy?: iam.Policy;

  /** Allow `actions` on exactly `resources` (ARNs), in the function's own role. */
  grantActions(actions: readonly string[], resources: readonly string[]): void {
    if (resources.length === 0 || actions.length === 0) return;
    this.addToRolePolicy(new iam.PolicyStatement({ actions: [...actions], resources: [...resources] }));
  }
}

/**
 * The network-interface permissions Lambda uses, with this role, to attach a function to its VPC. They are
 * what the AWSLambdaVPCAccessExecutionRole managed policy grants, scoped to this account and region (the form
 * the Lambda developer guide documents for ec2:DeleteNetworkInterface) instead of `*`, and denied whenever the
 * call comes from the function's code (`lambda:SourceFunctionArn` is set only on calls made with the
 * credentials the function receives), so the code cannot create or delete network interfaces itself.
 * The function depends on this policy: Lambda checks these permissions when it creates the function.
 */
function addVpcAccessPolicy(fn: NodejsFunction, role: iam.Role): iam.Policy {
  const stack = Stack.of(fn);
  const eniActions = ['ec2:CreateNetworkInterface', 'ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses'];
  const policy = new iam.Policy(fn, 'VpcAccessPolicy', {
    statements: [
      new iam.PolicyStatement({ actions: eniActions, resources: [`arn:${stack.partition}:ec2:${stack.region}:${stack.account}:*/*`] }),
      new iam.PolicyStatement({ actions: ['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets'], resources: ['*'] }),
      new iam.PolicyStatement({
        effect: iam.Effect.DENY,
        actions: [...eniActions, 'ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets'],
        resources: ['*'],
        conditions: { Null: { 'lambda:SourceFunctionArn': 'false' } },
      }),
    ],
  });
  role.attachInlinePolicy(policy);
  fn.node.defaultChild!.node.addDependency(policy);
  Validations.of(policy).acknowledge(
    {
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:*/*]',
      reason:
        'Lambda attaches a VPC function by creating and deleting its own network interfaces, whose ids are unknown in advance; the Lambda developer guide documents account-and-region scope for these actions. A Deny on lambda:SourceFunctionArn keeps them from the function code.',
    },
    {
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ec2:DescribeNetworkInterfaces and ec2:DescribeSubnets are read-only and do not support resource-level permissions (AWS service authorization reference); Lambda needs them to attach the function to its VPC; denied to the function code.',
    },
  );
  return policy;
}
