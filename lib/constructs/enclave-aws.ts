/**
 * The enclave on AWS (issue 5, docs/enclave.md): the one state machine (enclave-state-machine.ts, the
 * definition local mode runs) with its AWS parts:
 *
 *   run objects bucket   submissions (home.tar.gz + manifest) and collected outputs (outputs.tar.gz + manifest):
 *                        what reviewers see and what is released; written once (If-None-Match), never deleted
 *   outputs bucket       what run tasks write (`runs/<analysisId>/<runId>/`); only run tasks write it, only the
 *                        collect step reads it; expires after `outputRetentionDays`
 *   access-log bucket    S3 server access logs of both
 *   ECR repository       run images `<runId>` (scan on push, immutable tags, KMS)
 *   CodeBuild project    builds a run image from the approved archive (no submitted code runs during the build)
 *                        and registers the run's task definition family `<runFamily>-<runId>`
 *   VPC                  isolated subnets only (no internet or NAT gateway), S3 gateway endpoint, ECR and Logs
 *                        interface endpoints; the run's security group reaches those and nothing else
 *   ECS cluster + task   Fargate, no public IP; each run's task has its own role (made by the resources step,
 *                        under `/carrel/<id>/runs/`, within the run boundary): it reads the dataset and writes
 *                        only that run's outputs; the template task definition's role has no permissions
 *   step functions       one per concern, each with its own role: home snapshot (archive the home, EFS
 *                        read-only, no table), verify, notify (review/advance/finish),
 *                        resources (each run's role and task definitions), collect, check, release
 *
 * Everything is encrypted with one customer managed key (rotated). Buckets are versioned, block public
 * access and refuse requests without TLS.
 */
import { ArnFormat, Duration, RemovalPolicy, Stack, Validations, type CfnElement } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { DEFAULT_RUN_POLICY, type RunPolicy } from '../../lambdas/core/runs/policy.js';
import type { EnclaveStep } from '../../lambdas/core/runs/steps.js';
import { RUN_SCRIPT } from '../../lambdas/core/runs/run.js';
import { enclaveRunTaskFamily, runRoleBoundaryName, runRoleNamePrefix, runRolePath } from '../../lambdas/adapters/aws/run-resources.js';
import { CarrelFunction } from '../lambda-function.js';
import { EnclaveStateMachine } from './enclave-state-machine.js';
import { HomeSnapshotFunction, type EnclaveHomes } from './home-snapshot.js';

/** The enclave's settings (lib/config.ts `enclave`, validated there). */
export interface EnclaveSettings {
  readonly reviewerRole: string;
  readonly reviewers: readonly string[];
  readonly twoApprovals: boolean;
  readonly smallCountThreshold: number;
  readonly dataset: { readonly bucketArn: string; readonly prefix: string; readonly kmsKeyArn?: string };
  readonly outputRetentionDays: number;
  readonly releaseLinkTtlSeconds: number;
  readonly mailFrom: string;
  readonly baseImage: string;
  readonly architecture: 'arm64' | 'x86_64';
  readonly cpu: number;
  readonly memoryMiB: number;
  readonly vpcCidr: string;
}

export interface EnclaveAwsProps {
  /** Names resources and the state machine. */
  readonly deploymentId: string;
  readonly settings: EnclaveSettings;
  /** The desk's table: runs and the audit log live there. */
  readonly table: dynamodb.ITable;
  /** The desk's signing key: the release step signs the download link with it (kms:Sign only). */
  readonly signingKey: kms.IKey;
  /** The desk's origin (`https://<deskDomain>`): release links point at its download route, review mails at its review pages. */
  readonly deskOrigin: string;
  readonly logRetention: logs.RetentionDays;
  /** Powertools log level of the step functions. @default 'INFO' */
  readonly logLevel?: string;
  /** Folder of the Lambda entry points. @default lambdas/handlers/entry */
  readonly entryDir?: string;
  /** With AWS workspaces: the homes the archive step reads. @default - none: every submission fails (no home) */
  readonly homes?: EnclaveHomes;
}

/** The step Lambdas: entry name → the core steps it serves (its entry point refuses any other). */
export const ENCLAVE_FUNCTIONS = {
  'home-snapshot': ['archive-home'],
  'enclave-verify': ['verify-archive'],
  'enclave-notify': ['request-review', 'advance', 'finish'],
  'enclave-resources': ['prepare-run', 'clean-up'],
  'enclave-collect': ['collect-outputs'],
  'enclave-check': ['check-disclosure'],
  'enclave-release': ['release'],
} as const satisfies Record<string, readonly EnclaveStep[]>;
export type EnclaveFunctionName = keyof typeof ENCLAVE_FUNCTIONS;

/** Where the run task's container finds the dataset and writes its outputs (both ephemeral task volumes). */
const DATA_DIR = '/data';
const OUTPUTS_DIR = '/outputs';
/** Task-local scratch volumes (the root file system is read-only). */
const RUN_VOLUMES = [
  { name: 'data', path: DATA_DIR },
  { name: 'outputs', path: OUTPUTS_DIR },
  { name: 'tmp', path: '/tmp' },
] as const;
/** The run's user: nobody, never root. */
const RUN_USER = '65534:65534';

/** Mail sending permission: the address and its domain are SES identities (whichever is verified authorizes). */
function sesIdentityArns(stack: Stack, from: string): string[] {
  const domain = from.slice(from.indexOf('@') + 1);
  return [from, domain].map((identity) => stack.formatArn({ service: 'ses', resource: 'identity', resourceName: identity }));
}

export class EnclaveAws extends Construct {
  readonly key: kms.Key;
  readonly accessLogs: s3.Bucket;
  readonly runObjects: s3.Bucket;
  readonly outputs: s3.Bucket;
  readonly repository: ecr.Repository;
  readonly vpc: ec2.Vpc;
  readonly runSecurityGroup: ec2.SecurityGroup;
  readonly endpointSecurityGroup: ec2.SecurityGroup;
  readonly cluster: ecs.Cluster;
  readonly runTask: ecs.FargateTaskDefinition;
  readonly runContainer: ecs.ContainerDefinition;
  /** The most any run's own task role may do (its permissions boundary). */
  readonly runRoleBoundary: iam.ManagedPolicy;
  /** ARN pattern of the per-run task roles (`role/carrel/<id>/runs/carrel-<id>-run-*`). */
  readonly runRoleArns: string;
  readonly buildProject: codebuild.Project;
  readonly functions: Readonly<Record<EnclaveFunctionName, CarrelFunction>>;
  readonly machine: EnclaveStateMachine;
  readonly policy: RunPolicy;

  constructor(scope: Construct, id: string, props: EnclaveAwsProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const { settings, deploymentId } = props;
    const name = `carrel-${deploymentId}-enclave`;
    this.policy = {
      ...DEFAULT_RUN_POLICY,
      requiredApprovals: settings.twoApprovals ? 2 : 1,
      reviewerRole: settings.reviewerRole,
      releaseLinkTtlMs: settings.releaseLinkTtlSeconds * 1000,
    };

    this.key = new kms.Key(this, 'Key', {
      description: `carrel ${deploymentId} enclave: run objects, outputs, run images, build artifacts`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // ---- Buckets ------------------------------------------------------------------------------------------
    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      // Server access logs can only be delivered to an SSE-S3 bucket.
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ expiration: Duration.days(731), noncurrentVersionExpiration: Duration.days(30) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const bucket = (bucketId: string, extra: Partial<s3.BucketProps>) =>
      new s3.Bucket(this, bucketId, {
        encryption: s3.BucketEncryption.KMS,
        encryptionKey: this.key,
        bucketKeyEnabled: true,
        enforceSSL: true,
        minimumTLSVersion: 1.2,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned: true,
        serverAccessLogsBucket: this.accessLogs,
        serverAccessLogsPrefix: `${bucketId.toLowerCase()}/`,
        removalPolicy: RemovalPolicy.RETAIN,
        ...extra,
      });
    this.runObjects = bucket('RunObjects', {});
    // Submissions and collected outputs are immutable: every write must be a conditional create
    // (If-None-Match: *, as S3ObjectStore.putNew sends it), so no object is ever replaced by a new version.
    this.runObjects.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyCreateNew',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [this.runObjects.arnForObjects('*')],
        conditions: { Null: { 's3:if-none-match': 'true' } },
      }),
    );
    this.outputs = bucket('Outputs', {
      lifecycleRules: [
        {
          expiration: Duration.days(settings.outputRetentionDays),
          noncurrentVersionExpiration: Duration.days(1),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
    });
    for (const b of [this.runObjects, this.outputs]) {
      // Objects are written only with this key (a write naming another key, or SSE-S3, is refused).
      b.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'DenyOtherEncryption',
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: ['s3:PutObject'],
          resources: [b.arnForObjects('*')],
          conditions: { StringNotEqualsIfExists: { 's3:x-amz-server-side-encryption-aws-kms-key-id': this.key.keyArn } },
        }),
      );
      // History is kept: no version is ever deleted by a principal (lifecycle expiry is S3's own, not a request).
      b.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'DenyVersionDeletion',
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: ['s3:DeleteObjectVersion'],
          resources: [b.arnForObjects('*')],
        }),
      );
    }

    // ---- Network: isolated, nothing routes out -------------------------------------------------------------
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(settings.vpcCidr),
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'enclave', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
      restrictDefaultSecurityGroup: true,
    });
    this.addFlowLogs(props.logRetention);
    const isolated = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };

    // S3 (gateway): the dataset, the run's outputs, and ECR image layers (ECR stores layers in S3). The
    // endpoint policy is the exfiltration barrier: no bucket but these is reachable from the enclave.
    const s3Endpoint = this.vpc.addGatewayEndpoint('S3', { service: ec2.GatewayVpcEndpointAwsService.S3, subnets: [isolated] });
    const datasetObjects = `${settings.dataset.bucketArn}/${settings.dataset.prefix}*`;
    s3Endpoint.addToPolicy(
      new iam.PolicyStatement({
        sid: 'DatasetRead',
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:GetObject', 's3:ListBucket'],
        resources: [settings.dataset.bucketArn, datasetObjects],
      }),
    );
    s3Endpoint.addToPolicy(
      new iam.PolicyStatement({
        sid: 'OutputsWrite',
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [this.outputs.arnForObjects('runs/*')],
      }),
    );
    s3Endpoint.addToPolicy(
      new iam.PolicyStatement({
        sid: 'EcrImageLayers',
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:GetObject'],
        resources: [`arn:${stack.partition}:s3:::prod-${stack.region}-starport-layer-bucket/*`],
      }),
    );

    this.endpointSecurityGroup = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
      vpc: this.vpc,
      description: `carrel ${deploymentId} enclave interface endpoints: HTTPS from runs only`,
      allowAllOutbound: false,
    });
    this.runSecurityGroup = new ec2.SecurityGroup(this, 'RunSecurityGroup', {
      vpc: this.vpc,
      description: `carrel ${deploymentId} enclave runs: HTTPS to the enclave endpoints and S3 only`,
      allowAllOutbound: false,
    });
    this.endpointSecurityGroup.addIngressRule(this.runSecurityGroup, ec2.Port.tcp(443), 'HTTPS from enclave runs');
    this.runSecurityGroup.addEgressRule(this.endpointSecurityGroup, ec2.Port.tcp(443), 'ECR and Logs interface endpoints');
    this.runSecurityGroup.addEgressRule(ec2.Peer.prefixList(this.s3PrefixListId()), ec2.Port.tcp(443), 'S3 through the gateway endpoint');
    // Fargate (platform 1.4) pulls the image and sends the container's log through the task's own network
    // interface: ECR API + registry and CloudWatch Logs are the only interface endpoints runs need. No STS:
    // the task role's credentials come from the Fargate agent, not from the VPC.
    for (const [endpointId, service] of [
      ['EcrApi', ec2.InterfaceVpcEndpointAwsService.ECR],
      ['EcrDocker', ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER],
      ['Logs', ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS],
    ] as const) {
      this.vpc.addInterfaceEndpoint(endpointId, { service, subnets: isolated, securityGroups: [this.endpointSecurityGroup], privateDnsEnabled: true, open: false });
    }

    // ---- Run images -----------------------------------------------------------------------------------------
    this.repository = new ecr.Repository(this, 'Images', {
      repositoryName: `${name}-runs`,
      imageScanOnPush: true,
      imageTagMutability: ecr.TagMutability.IMMUTABLE,
      encryption: ecr.RepositoryEncryption.KMS,
      encryptionKey: this.key,
      lifecycleRules: [{ description: 'Run images are reproducible from their submission', maxImageAge: Duration.days(Math.max(settings.outputRetentionDays, 30)) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // ---- The run: Fargate, isolated -------------------------------------------------------------------------
    this.cluster = new ecs.Cluster(this, 'Cluster', { vpc: this.vpc, containerInsightsV2: ecs.ContainerInsights.ENABLED });
    const runLogs = new logs.LogGroup(this, 'RunLogs', { retention: props.logRetention, removalPolicy: RemovalPolicy.RETAIN });
    // The template task definition's role. No run uses it: each run's task definition (registered by the build)
    // names the run's own role, made by the resources step. ECS needs a role here only for the template to be
    // complete, so it has no permissions at all (a task started from the template could read and write nothing).
    const templateRole = new iam.Role(this, 'RunTemplateRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com', {
        conditions: { ArnLike: { 'aws:SourceArn': stack.formatArn({ service: 'ecs', resource: '*', arnFormat: ArnFormat.SLASH_RESOURCE_NAME }) }, StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description: `carrel ${deploymentId} enclave run template: no permissions; each run's task has its own role`,
    });
    this.runRoleArns = `arn:${stack.partition}:iam::${stack.account}:role${runRolePath(deploymentId)}${runRoleNamePrefix(deploymentId)}*`;
    const runEnvironment: Record<string, string> = {
      DATASET_BUCKET: settings.dataset.bucketArn.slice(settings.dataset.bucketArn.lastIndexOf(':') + 1),
      DATASET_PREFIX: settings.dataset.prefix,
      OUTPUTS_BUCKET: this.outputs.bucketName,
      OUTPUTS_KEY_ARN: this.key.keyArn,
      DATA_DIR,
      OUTPUTS_DIR,
      AWS_REGION: stack.region,
      // The AWS CLI in the image must not look for instance metadata (Fargate has none; it would only wait).
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    this.runTask = new ecs.FargateTaskDefinition(this, 'RunTask', {
      family: enclaveRunTaskFamily(deploymentId),
      cpu: settings.cpu,
      memoryLimitMiB: settings.memoryMiB,
      runtimePlatform: {
        cpuArchitecture: settings.architecture === 'arm64' ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
      taskRole: templateRole,
      volumes: RUN_VOLUMES.map((v) => ({ name: v.name })),
    });
    this.runContainer = this.runTask.addContainer('run', {
      // The template's image: every run gets its own revision, registered by the build with `<repo>@<digest>`.
      image: ecs.ContainerImage.fromEcrRepository(this.repository, 'template'),
      essential: true,
      readonlyRootFilesystem: true,
      user: RUN_USER,
      logging: ecs.LogDrivers.awsLogs({ logGroup: runLogs, streamPrefix: 'run' }),
      environment: runEnvironment,
    });
    this.runContainer.addMountPoints(...RUN_VOLUMES.map((v) => ({ containerPath: v.path, sourceVolume: v.name, readOnly: false })));
    // The most a run's own role may do (its permissions boundary): the dataset, read-only; outputs, write-only
    // (no read, list or delete) under runs/. Each run's inline policy (run-resources.ts) narrows the outputs
    // to runs/<analysisId>/<runId>/, so a run cannot write another run's outputs, nor read any.
    this.runRoleBoundary = new iam.ManagedPolicy(this, 'RunRoleBoundary', {
      managedPolicyName: runRoleBoundaryName(deploymentId),
      path: `/carrel/${deploymentId}/`,
      description: `carrel ${deploymentId}: the most an enclave run's own task role may do (read the dataset, create run outputs)`,
      statements: [
        new iam.PolicyStatement({ sid: 'DatasetRead', actions: ['s3:GetObject'], resources: [datasetObjects] }),
        new iam.PolicyStatement({
          sid: 'DatasetList',
          actions: ['s3:ListBucket'],
          resources: [settings.dataset.bucketArn],
          ...(settings.dataset.prefix ? { conditions: { StringLike: { 's3:prefix': [`${settings.dataset.prefix}*`] } } } : {}),
        }),
        ...(settings.dataset.kmsKeyArn ? [new iam.PolicyStatement({ sid: 'DatasetDecrypt', actions: ['kms:Decrypt'], resources: [settings.dataset.kmsKeyArn] })] : []),
        new iam.PolicyStatement({ sid: 'OutputsWrite', actions: ['s3:PutObject'], resources: [this.outputs.arnForObjects('runs/*')] }),
        // Decrypt too: the CLI uploads large files in parts, and S3 decrypts the data key to complete them.
        new iam.PolicyStatement({ sid: 'OutputsEncrypt', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [this.key.keyArn] }),
      ],
    });
    acknowledgeIam5(
      this.runRoleBoundary,
      [`Resource::${datasetObjects}`, `Resource::${nagArn(this.outputs)}/runs/*`],
      "A permissions boundary, not a grant: it caps every run's own role at reading the configured dataset (every object under its prefix) and creating objects under runs/ of the outputs bucket (PutObject only: no read, list or delete). Each run's role gets only runs/<analysisId>/<runId>/* in its own policy; run keys are unknown at deploy time.",
    );
    acknowledgeIam5(
      this.runTask.obtainExecutionRole(),
      ['Resource::*'],
      'ecr:GetAuthorizationToken supports no resource-level permissions; the execution role pulls only from the run repository (its other ECR actions name it) and writes only the run log group.',
    );
    Validations.of(this.runTask).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason: 'The run environment holds only bucket names, a key ARN, paths and the region (no secret): the run has no secrets at all, and its code is reviewed before it runs.',
    });

    // ---- The build -----------------------------------------------------------------------------------------
    this.buildProject = this.addBuild(deploymentId, name, settings, props.logRetention, runEnvironment);

    // ---- Step functions -------------------------------------------------------------------------------------
    this.functions = this.addStepFunctions(props, settings);

    const steps = Object.fromEntries(
      (Object.entries(ENCLAVE_FUNCTIONS) as [EnclaveFunctionName, readonly EnclaveStep[]][]).flatMap(([fn, served]) => served.map((step) => [step, this.functions[fn]])),
    ) as Record<EnclaveStep, CarrelFunction>;
    this.machine = new EnclaveStateMachine(this, 'Machine', {
      deploymentId,
      steps,
      buildProject: this.buildProject,
      cluster: this.cluster,
      runTask: this.runTask,
      runContainer: this.runContainer,
      runSubnets: isolated,
      runSecurityGroups: [this.runSecurityGroup],
      runRoleArns: this.runRoleArns,
      policy: this.policy,
      logRetention: props.logRetention,
    });
    acknowledgeIam5(
      this.machine.stateMachine.role,
      Object.values(this.functions).map((fn) => `Resource::${nagArn(fn)}:*`),
      'Step Functions invokes a step function by its ARN and any of its versions or aliases (the LambdaInvoke grant of aws-cdk-lib); only the enclave step functions are named.',
    );
    acknowledgeIam5(
      this.machine.stateMachine.role,
      ['Resource::*'],
      'X-Ray tracing and log delivery (logs:CreateLogDelivery and related) support no resource-level permissions; ecs:DescribeTasks and ecs:StopTask are what runTask.sync needs to follow and stop the run task, whose ARN is known only at run time.',
    );
    acknowledgeIam5(
      this.machine.stateMachine.role,
      [`Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task-definition/${this.runTask.family}-*:*`],
      "Each run has its own task definition family <family>-<runId>, registered by the build with the run's own image; the state machine may run those families only, and only on the enclave cluster (ecs:cluster condition).",
    );
    acknowledgeIam5(
      this.machine.stateMachine.role,
      [`Resource::${nagRunRoles(deploymentId)}`],
      "RunTask needs iam:PassRole for the task role of the run's task definition, which is that run's own role (named per run, unknown at deploy time); only roles under the deployment's runs path with the run name prefix, and only to ECS tasks (iam:PassedToService).",
    );
    // The collect step is the only reader of run outputs; run tasks the only writers (by role path, in the bucket
    // policy: only the runs' own roles, each of which may write only its own run's prefix).
    this.outputs.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyCollectReads',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:GetObject', 's3:GetObjectVersion'],
        resources: [this.outputs.arnForObjects('*')],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': this.functions['enclave-collect'].role.roleArn } },
      }),
    );
    this.outputs.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyRunsWrite',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [this.outputs.arnForObjects('*')],
        conditions: { ArnNotLike: { 'aws:PrincipalArn': this.runRoleArns } },
      }),
    );
  }

  private prefixListId?: string;

  /** The AWS-managed prefix list of S3 in this region (the run security group's and the home snapshot's one S3 rule). */
  s3PrefixListId(): string {
    this.prefixListId ??= this.lookUpS3PrefixList();
    return this.prefixListId;
  }

  private lookUpS3PrefixList(): string {
    const stack = Stack.of(this);
    const lookup = new cr.AwsCustomResource(this, 'S3PrefixList', {
      onUpdate: {
        service: 'EC2',
        action: 'describeManagedPrefixLists',
        parameters: { Filters: [{ Name: 'prefix-list-name', Values: [`com.amazonaws.${stack.region}.s3`] }] },
        physicalResourceId: cr.PhysicalResourceId.of(`s3-prefix-list-${stack.region}`),
        outputPaths: ['PrefixLists.0.PrefixListId'],
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([new iam.PolicyStatement({ actions: ['ec2:DescribeManagedPrefixLists'], resources: ['*'] })]),
      installLatestAwsSdk: false,
    });
    acknowledgeIam5(lookup, ['Resource::*'], 'ec2:DescribeManagedPrefixLists is read-only and supports no resource-level permissions; it finds the id of the S3 prefix list for the run security group.');
    // The provider function AwsCustomResource shares across the stack (its id is fixed by aws-cdk-lib).
    const provider = stack.node.tryFindChild('AWS679f53fac002430cb0da5b7982bd2287');
    if (provider) {
      Validations.of(provider).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason:
          "The AwsCustomResource provider of aws-cdk-lib (a deploy-time lookup of the S3 prefix list id) uses this managed policy for its own logs; its permissions to act are only the lookup's read-only statement.",
      });
    }
    return lookup.getResponseField('PrefixLists.0.PrefixListId');
  }

  /** Every flow of the enclave network, accepted or rejected: a run's attempts to reach out show here. */
  private addFlowLogs(retention: logs.RetentionDays): void {
    const group = new logs.LogGroup(this, 'FlowLogs', { retention, removalPolicy: RemovalPolicy.RETAIN });
    this.vpc.addFlowLog('FlowLog', { destination: ec2.FlowLogDestination.toCloudWatchLogs(group), trafficType: ec2.FlowLogTrafficType.ALL });
  }

  /**
   * CodeBuild: fetch the approved archive and its manifest, extract it and check every file's sha256 against
   * the manifest, copy it into the base image (a generated Dockerfile with no RUN step: nothing submitted runs
   * here), push `<repo>:<runId>`, then register the run's task definition `<family>-<runId>` from the template
   * with the pushed digest. The state machine runs exactly that family.
   */
  private addBuild(deploymentId: string, name: string, settings: EnclaveSettings, retention: logs.RetentionDays, runEnvironment: Record<string, string>): codebuild.Project {
    const stack = Stack.of(this);
    const buildLogs = new logs.LogGroup(this, 'BuildLogs', { retention, removalPolicy: RemovalPolicy.RETAIN });
    const executionRole = this.runTask.obtainExecutionRole();
    const runLog = this.runContainer.logDriverConfig;
    // The run's task definition: the template's settings, the run's image by digest (filled in by the build).
    const template = stack.toJsonString({
      family: '@FAMILY@',
      // The run's own role (made by PrepareRun before the build): `<RUN_ROLE_PREFIX><runId>`.
      taskRoleArn: '@TASK_ROLE@',
      executionRoleArn: executionRole.roleArn,
      networkMode: 'awsvpc',
      requiresCompatibilities: ['FARGATE'],
      cpu: String(settings.cpu),
      memory: String(settings.memoryMiB),
      runtimePlatform: { cpuArchitecture: settings.architecture === 'arm64' ? 'ARM64' : 'X86_64', operatingSystemFamily: 'LINUX' },
      volumes: RUN_VOLUMES.map((v) => ({ name: v.name })),
      containerDefinitions: [
        {
          name: this.runContainer.containerName,
          image: '@IMAGE@',
          essential: true,
          readonlyRootFilesystem: true,
          user: RUN_USER,
          environment: Object.entries(runEnvironment).map(([n, value]) => ({ name: n, value })),
          mountPoints: RUN_VOLUMES.map((v) => ({ containerPath: v.path, sourceVolume: v.name, readOnly: false })),
          logConfiguration: { logDriver: runLog?.logDriver, options: runLog?.options },
        },
      ],
      // Found by `npm run admin -- resources` if a clean-up leaves it.
      tags: [
        { key: 'carrel:deployment', value: deploymentId },
        { key: 'carrel:analysis', value: '@ANALYSIS@' },
        { key: 'carrel:run', value: '@RUN@' },
      ],
    });
    const project = new codebuild.Project(this, 'Build', {
      projectName: `${name}-build`,
      description: 'Builds an approved enclave run into its image and task definition (no submitted code runs here)',
      environment: {
        buildImage: settings.architecture === 'arm64' ? codebuild.LinuxArmBuildImage.AMAZON_LINUX_2023_STANDARD_3_0 : codebuild.LinuxBuildImage.AMAZON_LINUX_2023_5,
        computeType: codebuild.ComputeType.SMALL,
        // Docker needs it to build an image in CodeBuild. The Dockerfile is generated here: FROM the configured
        // base, COPY of the verified code and the run's entry script, no RUN: the submission never runs here.
        privileged: true,
        environmentVariables: {
          OBJECTS_BUCKET: { value: this.runObjects.bucketName },
          REPOSITORY_URI: { value: this.repository.repositoryUri },
          REPOSITORY_NAME: { value: this.repository.repositoryName },
          BASE_IMAGE: { value: settings.baseImage },
          RUN_FAMILY: { value: this.runTask.family },
          RUN_ROLE_PREFIX: { value: this.runRoleArns.slice(0, -1) },
          TASK_TEMPLATE: { value: template },
        },
      },
      encryptionKey: this.key,
      timeout: Duration.hours(1),
      logging: { cloudWatch: { logGroup: buildLogs } },
      buildSpec: codebuild.BuildSpec.fromObject(runBuildSpec()),
    });
    // The build reads only submissions (archive + manifest), pushes only to the run repository, and registers
    // only task definitions that pass a run's own role (or the execution role).
    const role = project.role!;
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SubmissionRead',
        actions: ['s3:GetObject'],
        resources: [this.runObjects.arnForObjects(`runs/*/*/${SUBMISSION_FILES.archive}`), this.runObjects.arnForObjects(`runs/*/*/${SUBMISSION_FILES.manifest}`)],
      }),
    );
    this.key.grantDecrypt(role);
    this.key.grant(role, 'kms:GenerateDataKey');
    this.repository.grantPush(role);
    role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ImageDigest', actions: ['ecr:DescribeImages'], resources: [this.repository.repositoryArn] }));
    const runFamilies = stack.formatArn({ service: 'ecs', resource: 'task-definition', resourceName: `${this.runTask.family}-*:*`, arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'RegisterRunTask',
        actions: ['ecs:RegisterTaskDefinition'],
        resources: ['*'],
        conditions: { StringEquals: { [`aws:RequestTag/carrel:deployment`]: deploymentId } },
      }),
    );
    // Tag-on-create: registering with tags is also authorized as ecs:TagResource (ecs:CreateAction says which call).
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'TagRunTask',
        actions: ['ecs:TagResource'],
        resources: [runFamilies],
        conditions: { StringEquals: { 'ecs:CreateAction': 'RegisterTaskDefinition' } },
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PassRunRoles',
        actions: ['iam:PassRole'],
        resources: [this.runRoleArns, executionRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    );
    acknowledgeIam5(
      role,
      [`Resource::${nagArn(this.runObjects)}/runs/*/*/${SUBMISSION_FILES.archive}`, `Resource::${nagArn(this.runObjects)}/runs/*/*/${SUBMISSION_FILES.manifest}`],
      'The build reads the submission of the run it builds; submissions are keyed per run (runs/<analysisId>/<runId>/), unknown at deploy time, and it may read only the archive and manifest files.',
    );
    acknowledgeIam5(
      role,
      ['Resource::*'],
      "ecr:GetAuthorizationToken and ecs:RegisterTaskDefinition support no resource-level permissions (Service Authorization Reference); registering is allowed only with the deployment's tag, and what a registered run task may do is bounded by iam:PassRole, allowed only for the runs' own roles (within the run boundary) and the execution role, and only to ECS tasks.",
    );
    acknowledgeIam5(
      role,
      [`Resource::${nagRunRoles(deploymentId)}`, 'Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task-definition/' + `${this.runTask.family}-*:*`],
      "Each run's task definition family (<family>-<runId>) and role (carrel-<id>-run-<runId>) are named per run, unknown at deploy time: the build may tag only those families at registration (ecs:CreateAction) and pass only roles under the deployment's runs path, to ECS tasks only.",
    );
    acknowledgeIam5(
      role,
      ['Action::kms:GenerateDataKey*', 'Action::kms:ReEncrypt*'],
      "CodeBuild's own grant on the project's encryption key (build artifacts and logs), on this one key only.",
    );
    acknowledgeIam5(
      role,
      [
        `Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/codebuild/<${Stack.of(this).getLogicalId(project.node.defaultChild as CfnElement)}>:*`,
        `Resource::arn:<AWS::Partition>:codebuild:<AWS::Region>:<AWS::AccountId>:report-group/<${Stack.of(this).getLogicalId(project.node.defaultChild as CfnElement)}>-*`,
      ],
      "CodeBuild's default grants for this project's own log streams and report groups, which are named per build.",
    );
    return project;
  }

  /** The step Lambdas, one role each, granted exactly the objects and actions of their steps. */
  private addStepFunctions(props: EnclaveAwsProps, settings: EnclaveSettings): Record<EnclaveFunctionName, CarrelFunction> {
    const stack = Stack.of(this);
    const common: Record<string, string> = {
      TABLE_NAME: props.table.tableName,
      RUN_OBJECTS_BUCKET: this.runObjects.bucketName,
      RUN_OBJECTS_KEY_ID: this.key.keyArn,
      REVIEWER_ROLE: settings.reviewerRole,
      REQUIRED_APPROVALS: settings.twoApprovals ? '2' : '1',
      SMALL_COUNT_THRESHOLD: String(settings.smallCountThreshold),
      RELEASE_LINK_TTL_SECONDS: String(settings.releaseLinkTtlSeconds),
      REVIEWERS: settings.reviewers.join(','),
      MAIL_FROM: settings.mailFrom,
    };
    const make = (fn: EnclaveFunctionName, timeout: Duration, extra: Record<string, string> = {}, memorySize = 512) =>
      new CarrelFunction(this, camel(fn), {
        name: fn,
        description: `carrel ${props.deploymentId} enclave step: ${ENCLAVE_FUNCTIONS[fn].join(', ')}`,
        environment: { ...common, ...extra },
        timeout,
        memorySize,
        logRetention: props.logRetention,
        logLevel: props.logLevel,
        serviceName: `carrel-${fn}`,
        entryDir: props.entryDir,
        // Step Functions retries and catches; an asynchronous retry by Lambda would only duplicate a step.
        retryAttempts: 0,
      });
    const quick = Duration.minutes(5);
    const long = Duration.minutes(15);
    // The archive step mounts the homes and reads no table (its own construct: VPC, access point, named role).
    const snapshot = new HomeSnapshotFunction(this, 'HomeSnapshot', {
      deploymentId: props.deploymentId,
      runObjectsBucketName: this.runObjects.bucketName,
      runObjectsKeyArn: this.key.keyArn,
      s3PrefixListId: () => this.s3PrefixListId(),
      homes: props.homes,
      logRetention: props.logRetention,
      logLevel: props.logLevel,
      entryDir: props.entryDir,
    });
    const functions: Record<EnclaveFunctionName, CarrelFunction> = {
      'home-snapshot': snapshot.fn,
      'enclave-verify': make('enclave-verify', quick, {}, 1024),
      // The review-needed mail links to the desk's review page of the run.
      'enclave-notify': make('enclave-notify', quick, { DESK_ORIGIN: props.deskOrigin }),
      'enclave-resources': make('enclave-resources', quick, {
        DEPLOYMENT_ID: props.deploymentId,
        RUN_TASK_FAMILY: this.runTask.family,
        OUTPUTS_BUCKET: this.outputs.bucketName,
        DATASET_BUCKET_ARN: settings.dataset.bucketArn,
        DATASET_PREFIX: settings.dataset.prefix,
        ...(settings.dataset.kmsKeyArn ? { DATASET_KEY_ARN: settings.dataset.kmsKeyArn } : {}),
      }),
      'enclave-collect': make('enclave-collect', long, { OUTPUTS_BUCKET: this.outputs.bucketName }, 2048),
      'enclave-check': make('enclave-check', long, {}, 1024),
      'enclave-release': make('enclave-release', quick, { SIGNING_KEY_ID: props.signingKey.keyArn, DESK_ORIGIN: props.deskOrigin }, 1024),
    };
    // Collect spools outputs to /tmp before archiving them (up to the collector's 5 GiB ceiling).
    (functions['enclave-collect'].node.defaultChild as lambda.CfnFunction).ephemeralStorage = { size: 10_240 };

    const object = (file: string) => this.runObjects.arnForObjects(`runs/*/*/${file}`);
    const mail = sesIdentityArns(stack, settings.mailFrom);
    for (const [fnName, fn] of Object.entries(functions)) {
      if (fnName !== 'home-snapshot') fn.grantActions(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query'], [props.table.tableArn]);
    }

    functions['enclave-verify'].grantActions(['s3:GetObject'], [object(SUBMISSION_FILES.archive), object(SUBMISSION_FILES.manifest)]);
    // GetObjectVersion: the collected outputs are read at the version the run pinned (a retried collect pins them too).
    functions['enclave-collect'].grantActions(['s3:GetObject', 's3:GetObjectVersion', 's3:PutObject'], [object(SUBMISSION_FILES.outputs), object(SUBMISSION_FILES.outputsManifest)]);
    functions['enclave-collect'].grantActions(['s3:GetObject'], [this.outputs.arnForObjects('runs/*')]);
    functions['enclave-collect'].addToRolePolicy(
      new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.outputs.bucketArn], conditions: { StringLike: { 's3:prefix': ['runs/*'] } } }),
    );
    functions['enclave-check'].grantActions(['s3:GetObject', 's3:GetObjectVersion'], [object(SUBMISSION_FILES.outputs), object(SUBMISSION_FILES.outputsManifest)]);
    functions['enclave-release'].grantActions(['s3:GetObject', 's3:GetObjectVersion'], [object(SUBMISSION_FILES.outputs), object(SUBMISSION_FILES.outputsManifest)]);
    this.grantRunResources(functions['enclave-resources'], props.deploymentId);
    functions['enclave-notify'].grantActions(['ses:SendEmail'], mail);
    functions['enclave-release'].grantActions(['ses:SendEmail'], mail);
    functions['enclave-release'].grantActions(['kms:Sign'], [props.signingKey.keyArn]);
    for (const fn of [functions['enclave-verify'], functions['enclave-check'], functions['enclave-release']]) fn.grantActions(['kms:Decrypt'], [this.key.keyArn]);
    functions['enclave-collect'].grantActions(['kms:Decrypt', 'kms:GenerateDataKey'], [this.key.keyArn]);
    const perRun =
      'Run objects are keyed per run (runs/<analysisId>/<runId>/<file>, unknown at deploy time): this step may touch only the files of its step (the submission archive and manifest, or the collected outputs and their manifest), and collect only the runs/ prefix of the outputs bucket.';
    const objects = (...files: string[]) => files.map((file) => `Resource::${nagArn(this.runObjects)}/runs/*/*/${file}`);
    acknowledgeIam5(functions['enclave-verify'].role, objects(SUBMISSION_FILES.archive, SUBMISSION_FILES.manifest), perRun);
    acknowledgeIam5(functions['enclave-collect'].role, [...objects(SUBMISSION_FILES.outputs, SUBMISSION_FILES.outputsManifest), `Resource::${nagArn(this.outputs)}/runs/*`], perRun);
    acknowledgeIam5(functions['enclave-check'].role, objects(SUBMISSION_FILES.outputs, SUBMISSION_FILES.outputsManifest), perRun);
    acknowledgeIam5(functions['enclave-release'].role, objects(SUBMISSION_FILES.outputs, SUBMISSION_FILES.outputsManifest), perRun);
    // The archive step creates a submission's two files and nothing else: no table, no other object. It reads
    // them back only when retried, to adopt what its earlier attempt stored (never replacing it).
    snapshot.fn.grantActions(['s3:PutObject', 's3:GetObject', 's3:GetObjectVersion'], [object(SUBMISSION_FILES.archive), object(SUBMISSION_FILES.manifest)]);
    snapshot.fn.grantActions(['kms:GenerateDataKey', 'kms:Decrypt'], [this.key.keyArn]);
    acknowledgeIam5(
      snapshot.fn.role,
      objects(SUBMISSION_FILES.archive, SUBMISSION_FILES.manifest),
      "The archive step stores a new run's submission under runs/<analysisId>/<runId>/ (per run, unknown at deploy time): the archive and manifest files only. PutObject is allowed by the bucket policy only as a create (If-None-Match), so it cannot replace any object; it reads these two files back only to adopt what an earlier attempt of the same step stored.",
    );
    return functions;
  }

  /**
   * The resources step makes and removes each run's own role and task definitions (run-resources.ts). IAM: only
   * roles under the deployment's runs path named `carrel-<id>-run-*`; created and given a policy only with the
   * run boundary, tagged only as the deployment's. ECS: the runs' task definition families.
   */
  private grantRunResources(fn: CarrelFunction, deploymentId: string): void {
    const stack = Stack.of(this);
    const roles = [this.runRoleArns];
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'CreateRunRoles',
        actions: ['iam:CreateRole', 'iam:PutRolePolicy'],
        resources: roles,
        conditions: { StringEquals: { 'iam:PermissionsBoundary': this.runRoleBoundary.managedPolicyArn } },
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'TagRunRoles',
        actions: ['iam:TagRole'],
        resources: roles,
        conditions: {
          StringEquals: { 'aws:RequestTag/carrel:deployment': deploymentId },
          'ForAllValues:StringEquals': { 'aws:TagKeys': ['carrel:deployment', 'carrel:analysis', 'carrel:run'] },
        },
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'RemoveRunRoles', actions: ['iam:GetRole', 'iam:ListRolePolicies', 'iam:DeleteRolePolicy', 'iam:DeleteRole'], resources: roles }),
    );
    // ListTaskDefinitions and DeregisterTaskDefinition have no resource types (Service Authorization Reference).
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'FindRunTasks', actions: ['ecs:ListTaskDefinitions', 'ecs:DeregisterTaskDefinition'], resources: ['*'] }));
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'DeleteRunTasks',
        actions: ['ecs:DeleteTaskDefinitions'],
        resources: [stack.formatArn({ service: 'ecs', resource: 'task-definition', resourceName: `${this.runTask.family}-*:*`, arnFormat: ArnFormat.SLASH_RESOURCE_NAME })],
      }),
    );
    acknowledgeIam5(
      fn.role,
      [`Resource::${nagRunRoles(deploymentId)}`],
      "Each run gets its own task role, named carrel-<id>-run-<runId> (unknown at deploy time): this step may create roles and put their policy only under the deployment's runs path with that prefix and only with the run permissions boundary (iam:PermissionsBoundary), tag them only as the deployment's with carrel's tag keys, and read, empty and delete only those roles.",
    );
    acknowledgeIam5(
      fn.role,
      ['Resource::*', `Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task-definition/${this.runTask.family}-*:*`],
      "ecs:ListTaskDefinitions and ecs:DeregisterTaskDefinition support no resource-level permissions (Service Authorization Reference: no resource types), so they are on *; the step deregisters only the revisions it listed for the run's own family <family>-<runId>, and a deregistered definition stops no running task. ecs:DeleteTaskDefinitions supports task-definition ARNs and is limited to the runs' families (<family>-*).",
    );
  }

  /** What the desk's submit needs: write a new submission (archive + manifest) and start the run's execution. */
  grantSubmit(grantee: iam.IGrantable): void {
    this.grantWriteSubmission(grantee);
    this.grantStartRun(grantee);
  }

  /** What the desk's review console needs: read submissions and collected outputs, complete waiting steps. */
  grantReview(grantee: iam.IGrantable): void {
    this.grantReadRunObjects(grantee, Object.keys(SUBMISSION_FILES) as RunObjectFile[]);
    this.grantTaskResponse(grantee);
  }

  /** Create a submission's archive and manifest (never replace: the bucket policy wants If-None-Match). */
  grantWriteSubmission(grantee: iam.IGrantable): void {
    const files = [SUBMISSION_FILES.archive, SUBMISSION_FILES.manifest];
    iam.Grant.addToPrincipal({ grantee, actions: ['s3:PutObject'], resourceArns: files.map((file) => this.runObjects.arnForObjects(`runs/*/*/${file}`)) });
    // The archive is spooled and sent in one PUT: S3 needs a data key, never a decrypt.
    this.key.grant(grantee, 'kms:GenerateDataKey');
    this.acknowledgePerRun(grantee, files, 'create');
  }

  /** Read only these run objects (of any run: keys are per run, unknown at deploy time). */
  grantReadRunObjects(grantee: iam.IGrantable, files: readonly RunObjectFile[], options: { readonly versions?: readonly RunObjectFile[] } = {}): void {
    const names = files.map((file) => SUBMISSION_FILES[file]);
    const arns = (of: readonly RunObjectFile[]) => of.map((file) => this.runObjects.arnForObjects(`runs/*/*/${SUBMISSION_FILES[file]}`));
    iam.Grant.addToPrincipal({ grantee, actions: ['s3:GetObject'], resourceArns: arns(files) });
    // GetObjectVersion (GET and HEAD with a VersionId): collected outputs are read, and linked, at the version the run pinned.
    const versions = (options.versions ?? []).filter((file) => files.includes(file));
    if (versions.length) iam.Grant.addToPrincipal({ grantee, actions: ['s3:GetObjectVersion'], resourceArns: arns(versions) });
    this.key.grantDecrypt(grantee);
    this.acknowledgePerRun(grantee, names, 'read');
  }

  /** Start an execution of the state machine (StartExecution on it only). */
  grantStartRun(grantee: iam.IGrantable): void {
    this.machine.stateMachine.grantStartExecution(grantee);
  }

  /** Complete a waiting review step (SendTaskSuccess/Failure/Heartbeat on this state machine only). */
  grantTaskResponse(grantee: iam.IGrantable): void {
    this.machine.stateMachine.grantTaskResponse(grantee);
  }

  private acknowledgePerRun(grantee: iam.IGrantable, files: readonly string[], what: string): void {
    if (!(grantee.grantPrincipal instanceof Construct)) return;
    acknowledgeIam5(
      grantee.grantPrincipal,
      files.map((file) => `Resource::${nagArn(this.runObjects)}/runs/*/*/${file}`),
      `The desk may ${what} only these files of a run (runs/<analysisId>/<runId>/<file>); runs are created at submit time, so their keys are unknown at deploy time. Which run a caller may touch is decided in core (membership, reviewer role), on the run's record.`,
    );
  }
}

export type RunObjectFile = keyof typeof SUBMISSION_FILES;

/** The run objects of a run under `runs/<analysisId>/<runId>/` (as local mode lays them out). */
export const SUBMISSION_FILES = {
  archive: 'home.tar.gz',
  manifest: 'manifest.json',
  outputs: 'outputs.tar.gz',
  outputsManifest: 'outputs.manifest.json',
} as const;

/** How cdk-nag names a resource's ARN in a finding: `<LogicalId.Arn>`. */
function nagArn(resource: Construct): string {
  const cfn = resource.node.defaultChild as CfnElement;
  return `<${Stack.of(resource).getLogicalId(cfn)}.Arn>`;
}

/** How cdk-nag names the per-run roles' ARN pattern in a finding. */
function nagRunRoles(deploymentId: string): string {
  return `arn:<AWS::Partition>:iam::<AWS::AccountId>:role${runRolePath(deploymentId)}${runRoleNamePrefix(deploymentId)}*`;
}

/** One acknowledgement per AwsSolutions-IAM5 finding (`Resource::x` or `Action::x`), each with the reason. */
function acknowledgeIam5(scope: Construct, findings: readonly string[], reason: string): void {
  Validations.of(scope).acknowledge(...findings.map((finding) => ({ id: `AwsSolutions-IAM5[${finding}]`, reason })));
}

function camel(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase());
}

/**
 * The build, as a buildspec. Everything it runs is here (the submission's own buildspec, if any, is ignored:
 * the project has no source). RUN_ID and ANALYSIS_ID come from the state machine.
 */
export function runBuildSpec(): Record<string, unknown> {
  const verify = [
    "python3 - <<'PY'",
    'import hashlib, json, os, sys',
    "m = json.load(open('/tmp/manifest.json'))",
    "root = 'context/code'",
    "want = {f['path']: f for f in m['files']}",
    'seen = set()',
    'for d, dirs, files in os.walk(root):',
    '    for n in dirs + files:',
    '        full = os.path.join(d, n)',
    "        if os.path.islink(full): sys.exit('a link in the archive: ' + full)",
    '    for n in files:',
    '        full = os.path.join(d, n)',
    '        rel = os.path.relpath(full, root)',
    '        seen.add(rel)',
    '        f = want.get(rel)',
    "        if f is None: sys.exit('not in the manifest: ' + rel)",
    "        if hashlib.sha256(open(full, 'rb').read()).hexdigest() != f['sha256']: sys.exit('differs from the manifest: ' + rel)",
    'missing = sorted(set(want) - seen)',
    "if missing: sys.exit('missing from the archive: ' + ', '.join(missing))",
    "print('verified', len(seen), 'files against manifest', m['digest'])",
    'PY',
  ].join('\n');
  const entry = [
    "cat > context/carrel-run <<'SH'",
    '#!/bin/sh',
    '# The run: the dataset in, the submitted run.sh, its outputs out. The exit code is the run\'s.',
    'set -u',
    '/opt/aws-cli/aws s3 cp --recursive --only-show-errors "s3://$DATASET_BUCKET/$DATASET_PREFIX" "$DATA_DIR" || exit 90',
    'cd /code',
    `sh ${RUN_SCRIPT}`,
    'code=$?',
    '/opt/aws-cli/aws s3 cp --recursive --only-show-errors "$OUTPUTS_DIR" "s3://$OUTPUTS_BUCKET/runs/$ANALYSIS_ID/$RUN_ID/" --sse aws:kms --sse-kms-key-id "$OUTPUTS_KEY_ARN" || exit 91',
    'exit $code',
    'SH',
  ].join('\n');
  const dockerfile = [
    "cat > context/Dockerfile <<'DF'",
    'ARG BASE_IMAGE',
    'FROM ${BASE_IMAGE}',
    'COPY --chown=0:0 aws-cli /opt/aws-cli',
    'COPY --chown=0:0 --chmod=0555 carrel-run /usr/local/bin/carrel-run',
    'COPY --chown=0:0 code /code',
    `USER ${RUN_USER}`,
    'WORKDIR /code',
    'ENTRYPOINT ["/usr/local/bin/carrel-run"]',
    'DF',
  ].join('\n');
  return {
    version: '0.2',
    env: { shell: 'bash' },
    phases: {
      pre_build: {
        commands: [
          'set -euo pipefail',
          // The key names object paths and the image tag: letters, digits, dot, underscore, hyphen only.
          'for v in "$RUN_ID" "$ANALYSIS_ID"; do [[ "$v" =~ ^[A-Za-z0-9._-]{1,128}$ ]] || { echo "bad run key: $v"; exit 1; }; done',
          `aws s3 cp --only-show-errors "s3://$OBJECTS_BUCKET/runs/$ANALYSIS_ID/$RUN_ID/${SUBMISSION_FILES.archive}" /tmp/home.tar.gz`,
          `aws s3 cp --only-show-errors "s3://$OBJECTS_BUCKET/runs/$ANALYSIS_ID/$RUN_ID/${SUBMISSION_FILES.manifest}" /tmp/manifest.json`,
          'mkdir -p context/code',
          'tar -xzf /tmp/home.tar.gz -C context/code --no-same-owner --no-same-permissions',
          verify,
        ],
      },
      build: {
        commands: [
          'set -euo pipefail',
          'cp -r "$(dirname "$(readlink -f "$(command -v aws)")")" context/aws-cli',
          entry,
          dockerfile,
          'aws ecr get-login-password | docker login --username AWS --password-stdin "${REPOSITORY_URI%%/*}"',
          'docker build --pull --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$REPOSITORY_URI:$RUN_ID" context',
          'docker push "$REPOSITORY_URI:$RUN_ID"',
          'DIGEST=$(aws ecr describe-images --repository-name "$REPOSITORY_NAME" --image-ids imageTag="$RUN_ID" --query "imageDetails[0].imageDigest" --output text)',
          // The run's own role (PrepareRun made it: `<RUN_ROLE_PREFIX><runId>`), and tags that find the definition.
          'printf %s "$TASK_TEMPLATE" | sed -e "s|@FAMILY@|$RUN_FAMILY-$RUN_ID|" -e "s|@IMAGE@|$REPOSITORY_URI@$DIGEST|" -e "s|@TASK_ROLE@|$RUN_ROLE_PREFIX$RUN_ID|" -e "s|@ANALYSIS@|$ANALYSIS_ID|" -e "s|@RUN@|$RUN_ID|" > /tmp/task.json',
          'aws ecs register-task-definition --cli-input-json file:///tmp/task.json --query taskDefinition.taskDefinitionArn --output text',
        ],
      },
    },
  };
}
