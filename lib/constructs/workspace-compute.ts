/**
 * Workspace compute, one of two kinds per deployment:
 *  - Ec2Workspaces: the instance role and profile and the launch template the EC2 adapter launches from;
 *  - FargateWorkspaces: the cluster and the base task definition (`tool` + `gate` sidecar + the short-lived
 *    `ready` signal container, volume `home`).
 *
 * Each also says, per capability, which IAM statements a desk function needs to drive it
 * (lib/constructs/workspaces.ts attaches them); every statement is scoped to this deployment by resource ARN,
 * tag (`carrel:deployment`) or cluster, and says why when a resource has a wildcard.
 */
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { BOOTSTRAP_ENV, BOOTSTRAP_PATH, FARGATE_SECRETS } from '../../assets/gate/bootstrap-contract.js';
import { GATE_TLS_PEM_VARIABLES } from '../../assets/gate/config.js';
import { ECS_BOOTSTRAP_CONTAINER, ECS_GATE_CONTAINER, ECS_READY_CONTAINER, ECS_TOOL_CONTAINER } from '../../lambdas/adapters/aws/compute-event-mapping.js';
import { homeRoleBoundaryName, homeRolePath } from '../../lambdas/adapters/aws/iam-home-roles.js';
import { WORKSPACE_TAG_KEYS } from '../../lambdas/core/lifecycle.js';
import { SPARE_SIZE_TAG, SPARE_TAG } from '../../lambdas/core/pool.js';
import type { WorkspaceSizes } from '../../lambdas/adapters/aws/workspace-sizes.js';
import type { CarrelConfig } from '../config.js';
import { DEPLOYMENT_TAG, taskDefinitionFamily, workspaceRoleNames } from '../names.js';
import type { WorkspaceNetwork } from './workspace-network.js';

/** What a desk function may do with workspace compute. */
export type ComputeCapability = 'launch' | 'start' | 'stop' | 'terminate' | 'describe' | 'console' | 'adopt';

/** A statement to grant, and why its resource has a wildcard (cdk-nag IAM5 acknowledgement), if it has one. */
export interface Grant {
  readonly statement: iam.PolicyStatement;
  readonly why?: string;
}

/** The workspace compute of one kind. */
export interface WorkspaceCompute {
  readonly kind: 'ec2' | 'fargate';
  /** The kind's variables of the Lambda environment (docs/contracts.md). */
  readonly environment: Readonly<Record<string, string>>;
  grants(capability: ComputeCapability): Grant[];
}

/**
 * Lets a workspace role mount the homes: only this file system, only through a mount target and an access
 * point. (EFS evaluates no access-point tags for NFS clients: the authorization reference lists only
 * elasticfilesystem:AccessPointArn and AccessedViaMountTarget for ClientMount/ClientWrite, so the scope is
 * the deployment's own file system, whose access points are all carrel homes.)
 */
export function homesClientStatement(fileSystemArn: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    actions: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
    resources: [fileSystemArn],
    conditions: {
      Bool: { 'elasticfilesystem:AccessedViaMountTarget': 'true' },
      Null: { 'elasticfilesystem:AccessPointArn': 'false' },
    },
  });
}

const DESCRIBE_ONLY_STAR =
  'has no resource-level permissions (AWS service authorization reference); it is read-only, and the adapters filter by the carrel:deployment tag or this cluster';

export interface Ec2WorkspacesProps {
  readonly deploymentId: string;
  readonly network: WorkspaceNetwork;
  /** AMI id or SSM parameter name (config `workspaceImageId`). */
  readonly imageId: string;
  readonly settings: CarrelConfig['ec2'];
  readonly hibernate: boolean;
  readonly workspaceAddress: 'private' | 'public';
  readonly sizes: WorkspaceSizes;
  readonly fileSystemArn: string;
  /** OpenSSH public key of the provisioner (authorized for `carrel-provisioner` by cloud-init). */
  readonly provisionerPublicKey: string;
}

export class Ec2Workspaces extends Construct implements WorkspaceCompute {
  readonly kind = 'ec2' as const;
  readonly instanceRole: iam.Role;
  readonly instanceProfile: iam.InstanceProfile;
  readonly launchTemplate: ec2.LaunchTemplate;
  /** The image id (a token when it comes from an SSM parameter). */
  readonly imageId: string;
  readonly environment: Readonly<Record<string, string>>;
  private readonly deploymentId: string;
  private readonly subnets: ec2.ISubnet[];
  private readonly securityGroup: ec2.ISecurityGroup;

  constructor(scope: Construct, id: string, props: Ec2WorkspacesProps) {
    super(scope, id);
    this.deploymentId = props.deploymentId;
    this.subnets = props.network.workspaceSubnets;
    this.securityGroup = props.network.workspaceSecurityGroup;

    this.instanceRole = new iam.Role(this, 'InstanceRole', {
      roleName: workspaceRoleNames(props.deploymentId).instance,
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: `carrel ${props.deploymentId} workspace instances: mount homes through their access points`,
    });
    this.instanceRole.addToPrincipalPolicy(homesClientStatement(props.fileSystemArn));
    if (props.settings.sessionManager) {
      this.instanceRole.addManagedPolicy(iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore'));
      Validations.of(this.instanceRole).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
        reason:
          'Enabled by the ec2.sessionManager setting: the policy AWS maintains for the SSM agent to register the instance and carry Session Manager sessions; who may open a session is decided by ssm:StartSession grants to operators, not by this role.',
      });
    }
    this.instanceProfile = new iam.InstanceProfile(this, 'InstanceProfile', { role: this.instanceRole });

    const image = props.imageId.startsWith('/')
      ? ec2.MachineImage.fromSsmParameter(props.imageId, { os: ec2.OperatingSystemType.LINUX })
      : fixedImage(props.imageId);
    this.imageId = image.getImage(this).imageId;

    this.launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      launchTemplateName: `carrel-${props.deploymentId}-workspace`,
      machineImage: image,
      userData: ec2.UserData.custom(cloudConfig(props.provisionerPublicKey)),
      instanceProfile: this.instanceProfile,
      // No network interface here: the adapter picks the subnet per launch (capacity fallback), and a public IP
      // comes only from the public subnets (workspaceAddress public); the private subnets never assign one.
      securityGroup: props.network.workspaceSecurityGroup,
      httpEndpoint: true,
      httpTokens: ec2.LaunchTemplateHttpTokens.REQUIRED,
      httpPutResponseHopLimit: 1,
      instanceMetadataTags: false,
      blockDevices: [
        {
          deviceName: props.settings.rootDeviceName,
          volume: ec2.BlockDeviceVolume.ebs(props.settings.rootVolumeGiB, {
            encrypted: true,
            volumeType: ec2.EbsDeviceVolumeType.GP3,
            deleteOnTermination: true,
          }),
        },
      ],
      hibernationConfigured: props.hibernate,
      instanceInitiatedShutdownBehavior: ec2.InstanceInitiatedShutdownBehavior.STOP,
    });
    // Tag what the template launches (instances, volumes, network interfaces) with the deployment, on top of
    // the adapter's own tags, so housekeeping finds every piece by tag.
    const cfn = this.launchTemplate.node.defaultChild as ec2.CfnLaunchTemplate;
    cfn.addPropertyOverride(
      'LaunchTemplateData.TagSpecifications',
      ['instance', 'volume', 'network-interface'].map((resourceType) => ({
        ResourceType: resourceType,
        Tags: [
          { Key: DEPLOYMENT_TAG, Value: props.deploymentId },
          { Key: 'carrel:role', Value: 'workspace' },
        ],
      })),
    );

    const spares = Object.fromEntries(Object.entries(props.settings.warmPool.sizes).filter(([, n]) => n > 0));
    this.environment = {
      COMPUTE_KIND: 'ec2',
      LAUNCH_TEMPLATE_ID: this.launchTemplate.launchTemplateId!,
      HIBERNATE: String(props.hibernate),
      ...(Object.keys(spares).length ? { WARM_POOL: JSON.stringify(spares), WARM_POOL_FOR_RESUME: String(props.settings.warmPool.forResume) } : {}),
    };
  }

  grants(capability: ComputeCapability): Grant[] {
    const stack = Stack.of(this);
    const arn = (resource: string, resourceName: string, account = stack.account) =>
      `arn:${stack.partition}:ec2:${stack.region}:${account}:${resource}/${resourceName}`;
    const deployment = { StringEquals: { [`aws:ResourceTag/${DEPLOYMENT_TAG}`]: this.deploymentId } };
    const onTagged = (action: string, why: string): Grant => ({
      statement: new iam.PolicyStatement({ actions: [action], resources: [arn('instance', '*')], conditions: deployment }),
      why: `${action} is allowed only on instances tagged ${DEPLOYMENT_TAG}=${this.deploymentId} (aws:ResourceTag); ${why}`,
    });

    switch (capability) {
      case 'launch': {
        const created = [arn('instance', '*'), arn('volume', '*'), arn('network-interface', '*')];
        const requestTag = { [`aws:RequestTag/${DEPLOYMENT_TAG}`]: this.deploymentId };
        return [
          {
            statement: new iam.PolicyStatement({
              actions: ['ec2:RunInstances'],
              resources: created,
              conditions: { StringEquals: requestTag, ArnEquals: { 'ec2:LaunchTemplate': this.launchTemplateArn() } },
            }),
            why: `ec2:RunInstances creates instances, volumes and network interfaces whose ids do not exist yet; allowed only from this launch template and only when the request tags them ${DEPLOYMENT_TAG}=${this.deploymentId}`,
          },
          {
            statement: new iam.PolicyStatement({
              actions: ['ec2:RunInstances'],
              resources: [
                this.launchTemplateArn(),
                `arn:${stack.partition}:ec2:${stack.region}::image/${this.imageId}`,
                arn('security-group', this.securityGroup.securityGroupId),
                ...this.subnets.map((subnet) => arn('subnet', subnet.subnetId)),
              ],
            }),
          },
          {
            statement: new iam.PolicyStatement({
              actions: ['ec2:CreateTags'],
              resources: created,
              conditions: { StringEquals: { 'ec2:CreateAction': 'RunInstances', ...requestTag } },
            }),
            why: `ec2:CreateTags is allowed only while RunInstances creates the resource (ec2:CreateAction) and only with ${DEPLOYMENT_TAG}=${this.deploymentId}, so existing resources cannot be re-tagged into the deployment`,
          },
          {
            statement: new iam.PolicyStatement({
              actions: ['iam:PassRole'],
              resources: [this.instanceRole.roleArn],
              conditions: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
            }),
          },
        ];
      }
      case 'start':
        return [
          onTagged('ec2:StartInstances', 'resuming a stopped workspace needs the id of an instance created at open'),
          {
            // A resumed instance's `carrel:generation` tag follows its record (as on a fresh launch): that one
            // tag key, on instances already of this deployment; the deployment tag itself cannot be changed.
            statement: new iam.PolicyStatement({
              actions: ['ec2:CreateTags'],
              resources: [arn('instance', '*')],
              conditions: {
                StringEquals: { [`aws:ResourceTag/${DEPLOYMENT_TAG}`]: this.deploymentId },
                'ForAllValues:StringEquals': { 'aws:TagKeys': ['carrel:generation'] },
              },
            }),
            why: `ec2:CreateTags on an existing instance is allowed only for the carrel:generation tag key (aws:TagKeys) and only on instances tagged ${DEPLOYMENT_TAG}=${this.deploymentId}`,
          },
        ];
      case 'stop':
        return [onTagged('ec2:StopInstances', 'stopping (or hibernating) acts on workspaces the deployment launched')];
      case 'terminate':
        return [
          onTagged(
            'ec2:TerminateInstances',
            'housekeeping terminates long-stopped and orphaned workspaces, and a failed workspace is terminated (core failWorkspace), of this deployment only',
          ),
        ];
      case 'console':
        return [onTagged('ec2:GetConsoleOutput', 'the provisioner reads the SSH host key fingerprints cloud-init prints on the console')];
      case 'describe':
        return [
          {
            statement: new iam.PolicyStatement({ actions: ['ec2:DescribeInstances'], resources: ['*'] }),
            why: `ec2:DescribeInstances ${DESCRIBE_ONLY_STAR}`,
          },
        ];
      case 'adopt': {
        // Taking a warm-pool spare: only instances of this deployment that are still spares (they carry
        // carrel:spare), only the workspace tag keys in, only the spare tag keys out.
        const spare = { StringEquals: { [`aws:ResourceTag/${DEPLOYMENT_TAG}`]: this.deploymentId }, Null: { [`aws:ResourceTag/${SPARE_TAG}`]: 'false' } };
        return [
          {
            statement: new iam.PolicyStatement({
              actions: ['ec2:CreateTags'],
              resources: [arn('instance', '*')],
              conditions: { ...spare, 'ForAllValues:StringEquals': { 'aws:TagKeys': [...WORKSPACE_TAG_KEYS, 'Name'] } },
            }),
            why: `ec2:CreateTags hands a warm-pool spare to a workspace: only on instances tagged ${DEPLOYMENT_TAG}=${this.deploymentId} that still carry ${SPARE_TAG}, and only the workspace tag keys (aws:TagKeys)`,
          },
          {
            statement: new iam.PolicyStatement({
              actions: ['ec2:DeleteTags'],
              resources: [arn('instance', '*')],
              conditions: { ...spare, 'ForAllValues:StringEquals': { 'aws:TagKeys': [SPARE_TAG, SPARE_SIZE_TAG] } },
            }),
            why: `ec2:DeleteTags removes only the spare tag keys (aws:TagKeys) from instances tagged ${DEPLOYMENT_TAG}=${this.deploymentId} that still carry ${SPARE_TAG}`,
          },
        ];
      }
    }
  }

  private launchTemplateArn(): string {
    const stack = Stack.of(this);
    return `arn:${stack.partition}:ec2:${stack.region}:${stack.account}:launch-template/${this.launchTemplate.launchTemplateId}`;
  }
}

/** An AMI by id, in whichever region the stack is deployed to. */
function fixedImage(imageId: string): ec2.IMachineImage {
  return {
    getImage: () => ({ imageId, osType: ec2.OperatingSystemType.LINUX, userData: ec2.UserData.forLinux() }),
  };
}

/**
 * cloud-init user data of a workspace. Nothing secret: it authorizes the provisioner's public key (with
 * `restrict`: no pty, no forwarding) for the image's `carrel-provisioner` account (assets/image: a system
 * account whose sudo is limited to the provisioning script) and keeps the SSH host key fingerprints on the
 * console, which the provisioner checks before it connects. It grants no sudo and leaves the account's
 * password field as the image set it (`lock_passwd: false`: a locked account cannot log in over SSH). The
 * gate's certificate, its environment and the data API key are installed by the provisioner over SSH.
 */
export function cloudConfig(provisionerPublicKey: string): string {
  return [
    '#cloud-config',
    'ssh_pwauth: false',
    'disable_root: true',
    'ssh:',
    '  emit_keys_to_console: true',
    'users:',
    '  - name: carrel-provisioner',
    '    lock_passwd: false',
    '    ssh_authorized_keys:',
    `      - "restrict ${provisionerPublicKey}"`,
    '',
  ].join('\n');
}

export interface FargateWorkspacesProps {
  readonly deploymentId: string;
  /** The desk's domain: the gate's desk origin, activity and bootstrap URLs, and the bootstrap server id. */
  readonly deskDomain: string;
  readonly network: WorkspaceNetwork;
  readonly settings: CarrelConfig['fargate'] & { readonly toolImage: string; readonly gateImage: string };
  readonly sizes: WorkspaceSizes;
  readonly gatePort: number;
  readonly fileSystemId: string;
  readonly fileSystemArn: string;
  /** `{certificate, privateKey, expiresAt}` for `*.<desk domain>`, injected into the gate container. */
  readonly certificateSecret: secretsmanager.ISecret;
  readonly logRetention: logs.RetentionDays;
}

/** CPU units and memory (MiB, soft reservation) of the `ready` container: it runs `node -e 0` once. */
export const READY_CONTAINER_CPU = 16;
export const READY_CONTAINER_MEMORY_MIB = 64;

/** Names of the variables the gate container receives the certificate and key in (PEM; the gate's own names). */
export const GATE_TLS_SECRET_VARIABLES = GATE_TLS_PEM_VARIABLES;

/** Where the tool listens inside the task (the images' Jupyter default). */
export const TOOL_PORT = 8888;

export class FargateWorkspaces extends Construct implements WorkspaceCompute {
  readonly kind = 'fargate' as const;
  readonly cluster: ecs.Cluster;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  /** The base task definition's role: it may do nothing (each home's task runs with its own role, below). */
  readonly taskRole: iam.Role;
  readonly executionRole: iam.Role;
  /**
   * The permissions boundary of every home task role (lambdas/adapters/aws/iam-home-roles.ts): at most, mount
   * this file system's homes through an access point. The launcher can create roles only with it.
   */
  readonly homeRoleBoundary: iam.ManagedPolicy;
  readonly logGroup: logs.LogGroup;
  readonly environment: Readonly<Record<string, string>>;
  private readonly deploymentId: string;

  constructor(scope: Construct, id: string, props: FargateWorkspacesProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.deploymentId = props.deploymentId;
    // Only tasks of this account and region may assume the task role (confused-deputy protection, as the ECS
    // guide recommends for task roles); the execution role keeps the plain trust the ECS agent expects.
    const ecsTasks = new iam.ServicePrincipal('ecs-tasks.amazonaws.com');

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.network.vpc,
      clusterName: `carrel-${props.deploymentId}-workspaces`,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
      enableFargateCapacityProviders: true,
    });

    this.taskRole = new iam.Role(this, 'TaskRole', {
      roleName: workspaceRoleNames(props.deploymentId).task,
      assumedBy: ecsTasks.withConditions({
        StringEquals: { 'aws:SourceAccount': stack.account },
        ArnLike: { 'aws:SourceArn': `arn:${stack.partition}:ecs:${stack.region}:${stack.account}:*` },
      }),
      description: `carrel ${props.deploymentId} base workspace task definition; no permissions: each home's task runs with its own role`,
    });
    this.homeRoleBoundary = new iam.ManagedPolicy(this, 'HomeRoleBoundary', {
      managedPolicyName: homeRoleBoundaryName(props.deploymentId),
      path: `/carrel/${props.deploymentId}/`,
      description: `carrel ${props.deploymentId}: the most a home task role may do (mount homes through an access point)`,
      statements: [homesClientStatement(props.fileSystemArn)],
    });
    this.executionRole = new iam.Role(this, 'ExecutionRole', {
      assumedBy: ecsTasks,
      description: `carrel ${props.deploymentId} workspace tasks: pull images, write logs, read the gate certificate`,
    });
    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention, removalPolicy: RemovalPolicy.RETAIN });

    // The base revision: the first size's CPU/memory (RunTask overrides them per size) and a home volume
    // without an access point (the adapter registers a revision per home with its access point).
    const base = Object.values(props.sizes)[0]!;
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'TaskDefinition', {
      family: taskDefinitionFamily(props.deploymentId),
      cpu: base.cpu,
      memoryLimitMiB: base.memoryMiB,
      runtimePlatform: {
        cpuArchitecture: props.settings.architecture === 'arm64' ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
      taskRole: this.taskRole,
      executionRole: this.executionRole,
      volumes: [
        {
          name: 'home',
          efsVolumeConfiguration: {
            fileSystemId: props.fileSystemId,
            transitEncryption: 'ENABLED',
            authorizationConfig: { iam: 'ENABLED' },
          },
        },
        // The gate's only writable place (its root file system is read-only).
        { name: 'gate-tmp' },
        // What the bootstrap step fetched or made, each volume mounted only where it is needed.
        { name: FARGATE_SECRETS.gateVolume },
        { name: FARGATE_SECRETS.toolVolume },
      ],
    });

    // Deployment-wide settings are in the task definition; per-workspace ones (hostname, agent token, the
    // tool's token) come from the bootstrap step (docs/contracts.md, "Fargate bootstrap"), so no RunTask
    // override, DescribeTasks answer or CloudTrail entry ever holds a secret. The certificate comes from
    // Secrets Manager, into the gate container only.
    const deskOrigin = `https://${props.deskDomain}`;
    const gateImage = containerImage(this, 'GateImage', props.settings.gateImage);
    const bootstrap = this.taskDefinition.addContainer('bootstrap', {
      containerName: ECS_BOOTSTRAP_CONTAINER,
      image: gateImage,
      essential: false,
      // Root only to write into the fresh volumes (owned by root); no capability beyond Fargate's defaults.
      user: '0',
      readonlyRootFilesystem: true,
      privileged: false,
      cpu: READY_CONTAINER_CPU,
      memoryReservationMiB: 128,
      environment: {
        [BOOTSTRAP_ENV.mode]: 'bootstrap',
        [BOOTSTRAP_ENV.url]: `${deskOrigin}${BOOTSTRAP_PATH}`,
        [BOOTSTRAP_ENV.serverId]: props.deskDomain,
        [BOOTSTRAP_ENV.stsUrl]: `https://sts.${stack.region}.${stack.urlSuffix}/`,
        [BOOTSTRAP_ENV.stsRegion]: stack.region,
        [BOOTSTRAP_ENV.settingsFile]: FARGATE_SECRETS.settingsFile,
        [BOOTSTRAP_ENV.toolTokenFile]: FARGATE_SECRETS.toolTokenFile,
      },
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'bootstrap' }),
    });
    bootstrap.addMountPoints(
      { sourceVolume: FARGATE_SECRETS.gateVolume, containerPath: FARGATE_SECRETS.gateDir, readOnly: false },
      { sourceVolume: FARGATE_SECRETS.toolVolume, containerPath: FARGATE_SECRETS.toolDir, readOnly: false },
    );

    const tool = this.taskDefinition.addContainer('tool', {
      containerName: ECS_TOOL_CONTAINER,
      image: containerImage(this, 'ToolImage', props.settings.toolImage),
      essential: true,
      // Researchers install packages into the image's environment: the tool's root stays writable.
      readonlyRootFilesystem: false,
      privileged: false,
      linuxParameters: new ecs.LinuxParameters(this, 'ToolLinuxParameters', { initProcessEnabled: true }),
      // Jupyter reads its token from this file (written by the bootstrap step; the gate injects the same token).
      environment: { JUPYTER_TOKEN_FILE: FARGATE_SECRETS.toolTokenFile },
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'tool' }),
    });
    tool.addMountPoints(
      { sourceVolume: 'home', containerPath: props.settings.homeMountPath, readOnly: false },
      { sourceVolume: FARGATE_SECRETS.toolVolume, containerPath: FARGATE_SECRETS.toolDir, readOnly: true },
    );
    tool.addContainerDependencies({ container: bootstrap, condition: ecs.ContainerDependencyCondition.SUCCESS });

    const gate = this.taskDefinition.addContainer('gate', {
      containerName: ECS_GATE_CONTAINER,
      image: gateImage,
      essential: true,
      readonlyRootFilesystem: true,
      privileged: false,
      portMappings: [{ containerPort: props.gatePort, protocol: ecs.Protocol.TCP, name: 'gate' }],
      environment: {
        CARREL_GATE_PORT: String(props.gatePort),
        CARREL_GATE_UPSTREAM: `http://127.0.0.1:${TOOL_PORT}`,
        CARREL_GATE_BUSY_PROBE: 'jupyter',
        CARREL_GATE_DESK_ORIGIN: deskOrigin,
        CARREL_GATE_ACTIVITY_URL: `${deskOrigin}/api/agent/activity`,
        [BOOTSTRAP_ENV.settingsFile]: FARGATE_SECRETS.settingsFile,
      },
      secrets: {
        [GATE_TLS_SECRET_VARIABLES.certificate]: ecs.Secret.fromSecretsManager(props.certificateSecret, 'certificate'),
        [GATE_TLS_SECRET_VARIABLES.privateKey]: ecs.Secret.fromSecretsManager(props.certificateSecret, 'privateKey'),
      },
      // Healthy once the gate answers and the tool behind it does (`/__carrel/health` is 503 while the tool is
      // down): the `ready` container below waits for it and turns it into an event. Loopback
      // has no name the certificate could match, hence no verification on this local probe.
      healthCheck: {
        command: [
          'CMD',
          'node',
          '-e',
          `require('node:https').get({host:'127.0.0.1',port:${props.gatePort},path:'/__carrel/health',rejectUnauthorized:false,timeout:4000},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))`,
        ],
        interval: Duration.seconds(10),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(60),
      },
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'gate' }),
    });
    gate.addMountPoints(
      { sourceVolume: 'gate-tmp', containerPath: '/tmp', readOnly: false },
      { sourceVolume: FARGATE_SECRETS.gateVolume, containerPath: FARGATE_SECRETS.gateDir, readOnly: true },
    );
    gate.addContainerDependencies({ container: bootstrap, condition: ecs.ContainerDependencyCondition.SUCCESS });

    // The tool-ready signal. ECS sends no event when a container's health changes, but it does send one when a
    // container stops: `ready` starts once the gate is HEALTHY (its health check passes only when the tool
    // answers through it), exits 0 at once, and that RUNNING task event with `ready` STOPPED/0 is what
    // compute-event-mapping.ts reads as tool-ready. Non-essential, so its exit leaves the task running.
    const ready = this.taskDefinition.addContainer('ready', {
      containerName: ECS_READY_CONTAINER,
      image: gateImage,
      essential: false,
      entryPoint: ['node'],
      command: ['-e', '0'],
      readonlyRootFilesystem: true,
      privileged: false,
      cpu: READY_CONTAINER_CPU,
      memoryReservationMiB: READY_CONTAINER_MEMORY_MIB,
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'ready' }),
    });
    ready.addContainerDependencies({ container: gate, condition: ecs.ContainerDependencyCondition.HEALTHY });
    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'The environment holds only non-secret, deployment-wide settings (the gate port and upstream, the desk origin and its activity and bootstrap URLs, the STS endpoint, file paths). Secrets never appear there: the certificate comes from Secrets Manager, and the agent token and the tool token are fetched or made by the bootstrap step at start-up into task volumes.',
    });
    if (isEcrImage(props.settings.toolImage) || isEcrImage(props.settings.gateImage)) {
      Validations.of(this.executionRole.node.findChild('DefaultPolicy')).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'ecr:GetAuthorizationToken has no resource-level permissions (AWS service authorization reference); it only returns a registry login, and image pulls are allowed on the configured workspace repositories only.',
      });
    }

    this.environment = {
      COMPUTE_KIND: 'fargate',
      ECS_CLUSTER_ARN: this.cluster.clusterArn,
      TASK_DEFINITION_ARN: this.taskDefinition.taskDefinitionArn,
    };
  }

  /**
   * Each home's task role (iam-home-roles.ts): created, tagged, given its mount policy and read back only
   * under the deployment's path and name prefix, only with the deployment's boundary; passed only to ECS tasks.
   */
  private homeRoleGrants(): Grant[] {
    const stack = Stack.of(this);
    const deployment = this.deploymentId;
    const homeRoles = `arn:${stack.partition}:iam::${stack.account}:role${homeRolePath(deployment)}carrel-${deployment}-home-*`;
    const where = `roles under the path ${homeRolePath(deployment)} named carrel-${deployment}-home-<hash> (one per home; their names exist only once the home does)`;
    return [
      {
        statement: new iam.PolicyStatement({
          actions: ['iam:CreateRole', 'iam:PutRolePolicy'],
          resources: [homeRoles],
          conditions: { StringEquals: { 'iam:PermissionsBoundary': this.homeRoleBoundary.managedPolicyArn } },
        }),
        why: `iam:CreateRole and iam:PutRolePolicy are allowed only for ${where}, and only when the role has the deployment's permissions boundary (iam:PermissionsBoundary), so no role made this way can do more than mount homes`,
      },
      {
        statement: new iam.PolicyStatement({
          actions: ['iam:TagRole'],
          resources: [homeRoles],
          conditions: {
            StringEquals: { [`aws:RequestTag/${DEPLOYMENT_TAG}`]: deployment },
            'ForAllValues:StringEquals': { 'aws:TagKeys': [DEPLOYMENT_TAG, 'carrel:analysis', 'carrel:user', 'carrel:home'] },
          },
        }),
        why: `iam:TagRole (CreateRole with tags) is allowed only for ${where}, only with ${DEPLOYMENT_TAG}=${deployment} and carrel's own tag keys`,
      },
      {
        statement: new iam.PolicyStatement({ actions: ['iam:GetRole'], resources: [homeRoles] }),
        why: `iam:GetRole is read-only and allowed only for ${where}: an existing home role is checked for its path and boundary before use`,
      },
      {
        statement: new iam.PolicyStatement({
          actions: ['iam:PassRole'],
          resources: [homeRoles, this.executionRole.roleArn],
          conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
        }),
        why: `iam:PassRole is allowed only for the execution role and ${where}, and only to ECS tasks (iam:PassedToService)`,
      },
    ];
  }

  grants(capability: ComputeCapability): Grant[] {
    const stack = Stack.of(this);
    const ecsArn = (resource: string) => `arn:${stack.partition}:ecs:${stack.region}:${stack.account}:${resource}`;
    const family = taskDefinitionFamily(this.deploymentId);
    const taskDefinitions = [ecsArn(`task-definition/${family}:*`), ecsArn(`task-definition/${family}-*:*`)];
    const tasks = ecsArn(`task/${this.cluster.clusterName}/*`);
    const inCluster = { ArnEquals: { 'ecs:cluster': this.cluster.clusterArn } };

    switch (capability) {
      case 'launch':
      case 'start':
        return [
          {
            statement: new iam.PolicyStatement({ actions: ['ecs:DescribeTaskDefinition'], resources: ['*'] }),
            why: `ecs:DescribeTaskDefinition ${DESCRIBE_ONLY_STAR}`,
          },
          {
            // The adapter registers one revision per home, tagged with the deployment.
            statement: new iam.PolicyStatement({
              actions: ['ecs:RegisterTaskDefinition'],
              resources: ['*'],
              conditions: { StringEquals: { [`aws:RequestTag/${DEPLOYMENT_TAG}`]: this.deploymentId } },
            }),
            why: `ecs:RegisterTaskDefinition has no resource-level permissions (AWS service authorization reference); allowed only when the request tags the definition ${DEPLOYMENT_TAG}=${this.deploymentId}, and a definition runs only through ecs:RunTask, limited to the workspace families and this cluster, with only the workspace roles passable`,
          },
          {
            // DescribeTaskDefinition with include TAGS reads the home's tags: ListTagsForResource, in case ECS
            // authorizes it separately, on the workspace families only.
            statement: new iam.PolicyStatement({ actions: ['ecs:ListTagsForResource'], resources: taskDefinitions }),
            why: `ecs:ListTagsForResource is read-only and allowed on every revision of the workspace task definition families (${family} and ${family}-<hash>) only`,
          },
          {
            statement: new iam.PolicyStatement({ actions: ['ecs:RunTask'], resources: taskDefinitions, conditions: inCluster }),
            why: `ecs:RunTask is allowed for the workspace families (${family} and the per-home ${family}-<hash>, every revision) and only in this deployment's cluster (ecs:cluster)`,
          },
          {
            statement: new iam.PolicyStatement({
              actions: ['ecs:TagResource'],
              resources: [tasks, ...taskDefinitions],
              conditions: {
                StringEquals: {
                  'ecs:CreateAction': ['RunTask', 'RegisterTaskDefinition'],
                  [`aws:RequestTag/${DEPLOYMENT_TAG}`]: this.deploymentId,
                },
              },
            }),
            why: `ecs:TagResource is allowed only while RunTask or RegisterTaskDefinition creates the task or definition (ecs:CreateAction) and only with ${DEPLOYMENT_TAG}=${this.deploymentId}, for tasks of this cluster and the workspace families`,
          },
          ...this.homeRoleGrants(),
        ];
      case 'stop':
      case 'terminate':
        return [
          {
            statement: new iam.PolicyStatement({ actions: ['ecs:StopTask'], resources: [tasks], conditions: inCluster }),
            why: 'ecs:StopTask is allowed only for tasks of this deployment cluster (task ARN under the cluster name and ecs:cluster condition); task ids do not exist before the task runs',
          },
        ];
      case 'describe':
        return [
          {
            statement: new iam.PolicyStatement({ actions: ['ecs:DescribeTasks'], resources: [tasks], conditions: inCluster }),
            why: 'ecs:DescribeTasks is read-only and allowed only for tasks of this deployment cluster (task ARN under the cluster name and ecs:cluster condition)',
          },
          {
            // DescribeTasks with include TAGS (reconciliation by tag), in case ECS authorizes the tags separately.
            statement: new iam.PolicyStatement({ actions: ['ecs:ListTagsForResource'], resources: [tasks] }),
            why: 'ecs:ListTagsForResource is read-only and allowed only on tasks under this deployment cluster name; task ids do not exist before the task runs',
          },
          {
            statement: new iam.PolicyStatement({ actions: ['ecs:ListTasks'], resources: ['*'], conditions: inCluster }),
            why: `ecs:ListTasks ${DESCRIBE_ONLY_STAR}; it is also limited to this cluster by the ecs:cluster condition`,
          },
          {
            statement: new iam.PolicyStatement({ actions: ['ec2:DescribeNetworkInterfaces'], resources: ['*'] }),
            why: `ec2:DescribeNetworkInterfaces (the public address of a task's interface) ${DESCRIBE_ONLY_STAR}`,
          },
        ];
      case 'console':
      case 'adopt': // no warm pool on Fargate: a task cannot take a home after it started
        return [];
    }
  }
}

/**
 * A container image by URI: an ECR image of this account (pulled with grants on that repository only) or any
 * other registry's image (pulled anonymously).
 */
export function isEcrImage(uri: string): boolean {
  return ECR_IMAGE.test(uri);
}

const ECR_IMAGE = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/([^:@]+)(?::([^@]+)|@(sha256:[0-9a-f]{64}))$/;

function containerImage(scope: Construct, id: string, uri: string): ecs.ContainerImage {
  const match = ECR_IMAGE.exec(uri);
  if (!match) return ecs.ContainerImage.fromRegistry(uri);
  const [, account, region, name, tag, digest] = match;
  const stack = Stack.of(scope);
  const repository = ecr.Repository.fromRepositoryAttributes(scope, id, {
    repositoryName: name!,
    repositoryArn: `arn:${stack.partition}:ecr:${region}:${account}:repository/${name}`,
  });
  return ecs.ContainerImage.fromEcrRepository(repository, tag ?? digest);
}
