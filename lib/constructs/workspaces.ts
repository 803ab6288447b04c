/**
 * AWS workspaces in the stateless stack: compute (EC2 or Fargate), the desk domain's hosted zone, the gate
 * certificate secret, and for EC2 the provisioner (a Lambda in the VPC) with its SSH key. It gives the desk
 * functions their part of the Lambda environment (docs/contracts.md, "AWS workspaces") and, per function,
 * exactly the IAM statements of the capabilities it uses.
 *
 * The gate certificate (`*.<desk domain>`, secret `{certificate, privateKey, expiresAt}`) is issued and
 * renewed with ACME DNS-01 on the hosted zone by GateCertificateRenewal (gate-certificate-renewal.ts, at
 * deploy and daily). The provisioner installs it on EC2 workspaces; Fargate injects it into the gate container.
 */
import { CustomResource, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
import { TABLE_SCHEMA } from '../../lambdas/adapters/aws/table-schema.js';
import type { CarrelConfig } from '../config.js';
import { CarrelFunction, PROJECT_ROOT } from '../lambda-function.js';
import { DEPLOYMENT_TAG } from '../names.js';
import { Ec2Workspaces, FargateWorkspaces, type ComputeCapability, type Grant, type WorkspaceCompute } from './workspace-compute.js';
import type { WorkspaceNetwork } from './workspace-network.js';
import { join } from 'node:path';

/** What a desk function may do with workspaces. */
export type WorkspaceCapability =
  | ComputeCapability
  /** Create (once) the analysis's EFS access point (an existing one comes back in the error). */
  | 'homes'
  /** Publish and remove `ws-*` records. */
  | 'dns'
  /** Invoke the provisioner (EC2). */
  | 'provision';

/** Folder of the custom resource handlers (lib/custom-resources). */
export const CUSTOM_RESOURCE_DIR = join(PROJECT_ROOT, 'lib', 'custom-resources');

export interface WorkspacesProps {
  readonly config: CarrelConfig & { readonly computeKind: 'ec2' | 'fargate'; readonly hostedZone: NonNullable<CarrelConfig['hostedZone']> };
  readonly network: WorkspaceNetwork;
  readonly fileSystemId: string;
  readonly fileSystemArn: string;
  readonly table: dynamodb.ITable;
  readonly signingKey: kms.IKey;
  /** The environment every desk function gets (deskEnvironment). */
  readonly deskEnvironment: Readonly<Record<string, string>>;
  readonly logRetention: logs.RetentionDays;
  /** Folder of the Lambda entry points (the provisioner is `provision.ts`). @default lambdas/handlers/entry */
  readonly entryDir?: string;
}

export class Workspaces extends Construct {
  readonly compute: WorkspaceCompute;
  readonly zone: route53.IHostedZone;
  /** `{certificate, privateKey, expiresAt}` of `*.<desk domain>` for the gates (written at deploy and renewed daily by GateCertificateRenewal). */
  readonly certificateSecret: secretsmanager.Secret;
  /** EC2: the provisioner's SSH private key (written at deploy by the key custom resource). */
  readonly sshKeySecret?: secretsmanager.Secret;
  /** EC2: the provisioner Lambda (in the VPC). */
  readonly provisioner?: CarrelFunction;
  /** The AWS-workspaces part of the environment of open, stop, housekeeping and compute-events. */
  readonly environment: Readonly<Record<string, string>>;
  /** True when the deployment keeps spare EC2 instances (ec2.warmPool.sizes with a spare). */
  readonly warmPool: boolean;
  private readonly config: WorkspacesProps['config'];
  private readonly fileSystemArn: string;

  constructor(scope: Construct, id: string, props: WorkspacesProps) {
    super(scope, id);
    const { config, network } = props;
    this.config = config;
    this.warmPool = config.computeKind === 'ec2' && Object.values(config.ec2.warmPool.sizes).some((n) => n > 0);
    this.fileSystemArn = props.fileSystemArn;

    this.zone = route53.HostedZone.fromHostedZoneAttributes(this, 'Zone', {
      hostedZoneId: config.hostedZone.zoneId,
      zoneName: config.hostedZone.zoneName,
    });

    this.certificateSecret = new secretsmanager.Secret(this, 'GateCertificate', {
      description: `carrel ${config.deploymentId}: TLS certificate and key of *.${config.deskDomain} for workspace gates ({certificate, privateKey, expiresAt}); issued and renewed with ACME DNS-01`,
      // A placeholder until the certificate is issued: no key material in the template.
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ certificate: '', privateKey: '', expiresAt: '' }),
        generateStringKey: 'placeholder',
      },
    });
    Validations.of(this.certificateSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The secret carries an issued certificate and its key, replaced before expiresAt by a new certificate from the CA (by the ACME DNS-01 renewal function, daily, within gateCertificate.renewBeforeDays of expiry); a Secrets Manager rotation Lambda cannot issue a certificate.',
    });

    let provisionerPublicKey = '';
    if (config.computeKind === 'ec2') {
      const key = new ProvisionerKey(this, 'ProvisionerKey', {
        deploymentId: config.deploymentId,
        generation: config.ec2.provisionerKeyGeneration,
        logRetention: props.logRetention,
      });
      this.sshKeySecret = key.secret;
      provisionerPublicKey = key.publicKey;
    }

    this.compute =
      config.computeKind === 'ec2'
        ? new Ec2Workspaces(this, 'Ec2', {
            deploymentId: config.deploymentId,
            network,
            imageId: config.workspaceImageId!,
            settings: config.ec2,
            hibernate: config.hibernate,
            workspaceAddress: config.workspaceAddress,
            sizes: config.instanceSizes,
            fileSystemArn: props.fileSystemArn,
            provisionerPublicKey,
          })
        : new FargateWorkspaces(this, 'Fargate', {
            deploymentId: config.deploymentId,
            deskDomain: config.deskDomain,
            network,
            settings: { ...config.fargate, toolImage: config.fargate.toolImage!, gateImage: config.fargate.gateImage! },
            sizes: config.instanceSizes,
            gatePort: config.gatePort,
            fileSystemId: props.fileSystemId,
            fileSystemArn: props.fileSystemArn,
            certificateSecret: this.certificateSecret,
            logRetention: props.logRetention,
          });

    const shared: Record<string, string> = {
      ...this.compute.environment,
      WORKSPACE_SIZES: JSON.stringify(config.instanceSizes),
      WORKSPACE_SUBNET_IDS: network.workspaceSubnets.map((subnet) => subnet.subnetId).join(','),
      WORKSPACE_SECURITY_GROUP_ID: network.workspaceSecurityGroup.securityGroupId,
      WORKSPACE_ADDRESS: config.workspaceAddress,
      EFS_FILE_SYSTEM_ID: props.fileSystemId,
      HOME_UID: String(config.homes.uid),
      HOME_GID: String(config.homes.gid),
      HOSTED_ZONE_ID: this.zone.hostedZoneId,
      HOSTNAME_TTL_SECONDS: String(config.hostnameTtlSeconds),
      GATE_PORT: String(config.gatePort),
    };

    if (config.computeKind === 'ec2') {
      const provisioner = new CarrelFunction(this, 'Provisioner', {
        name: 'provision',
        description: `carrel ${config.deploymentId}: provision an EC2 workspace over SSH (host key checked) and report tool-ready`,
        environment: {
          ...props.deskEnvironment,
          ...shared,
          PROVISIONER_SSH_KEY_SECRET_ARN: this.sshKeySecret!.secretArn,
          GATE_CERTIFICATE_SECRET_ARN: this.certificateSecret.secretArn,
        },
        // Bounded: the script has its own time limit inside this one; nobody waits on it synchronously.
        timeout: Duration.minutes(5),
        memorySize: 1024,
        logRetention: props.logRetention,
        logLevel: config.logLevel,
        entryDir: props.entryDir,
        // One retry of a crashed run (the script is idempotent); a run that reported is never repeated.
        retryAttempts: 1,
        maxEventAge: Duration.minutes(10),
        vpc: network.vpc,
        vpcSubnets: { subnets: network.privateSubnets },
        securityGroups: [network.provisionerSecurityGroup!],
        // node-ssh → ssh2: its native crypto and cpu-features are optional (pure-JS fallbacks).
        optionalNativeAddons: true,
        // provision.sh, the gate bundle and the blank-project template, next to the handler.
        afterBundling: (inputDir, outputDir) => [`cd "${inputDir}" && npx tsx assets/provision/stage.ts "${outputDir}"`],
      });
      // Like compute-events: it reports through the same use case (the record and the instance index) and signs
      // the gate's agent token / hands the gate the desk's public key.
      provisioner.grantActions(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'], [props.table.tableArn]);
      provisioner.grantActions(['dynamodb:Query'], [`${props.table.tableArn}/index/${TABLE_SCHEMA.instanceIndex.name}`]);
      provisioner.grantActions(['kms:Sign', 'kms:GetPublicKey'], [props.signingKey.keyArn]);
      provisioner.grantActions(['secretsmanager:GetSecretValue'], [this.sshKeySecret!.secretArn, this.certificateSecret.secretArn]);
      // A run that fails ends in core's failWorkspace, which terminates the instance and releases its
      // hostname: the same tag-scoped terminate and ws-* record changes as housekeeping.
      this.grant(provisioner, ['describe', 'console', 'terminate', 'dns']);
      this.provisioner = provisioner;
    }

    this.environment = this.provisioner ? { ...shared, PROVISIONER_FUNCTION_NAME: this.provisioner.functionName } : shared;
  }

  /**
   * Give `fn` exactly the statements of `capabilities`, in a policy of its own (`WorkspacePolicy`) so the
   * wildcard-resource findings acknowledged on it are these statements' and no other grant's.
   */
  grant(fn: CarrelFunction, capabilities: readonly WorkspaceCapability[]): void {
    const grants = capabilities.flatMap((capability) => this.grantsFor(capability));
    if (grants.length === 0) return;
    const policy = new iam.Policy(fn, 'WorkspacePolicy', { statements: grants.map((g) => g.statement) });
    fn.role.attachInlinePolicy(policy);
    fn.node.defaultChild!.node.addDependency(policy);
    acknowledgeWildcards(policy, grants);
  }

  private grantsFor(capability: WorkspaceCapability): Grant[] {
    const stack = Stack.of(this);
    const deployment = this.config.deploymentId;
    switch (capability) {
      case 'homes': {
        const accessPoints = `arn:${stack.partition}:elasticfilesystem:${stack.region}:${stack.account}:access-point/*`;
        const requestTag = { [`aws:RequestTag/${DEPLOYMENT_TAG}`]: deployment };
        return [
          {
            statement: new iam.PolicyStatement({
              actions: ['elasticfilesystem:CreateAccessPoint'],
              resources: [this.fileSystemArn, accessPoints],
              conditions: { StringEquals: requestTag },
            }),
            why: `elasticfilesystem:CreateAccessPoint creates an access point whose id does not exist yet, on the homes file system only and only when the request tags it ${DEPLOYMENT_TAG}=${deployment}`,
          },
          {
            statement: new iam.PolicyStatement({
              actions: ['elasticfilesystem:TagResource'],
              resources: [accessPoints],
              conditions: { StringEquals: { 'elasticfilesystem:CreateAction': 'CreateAccessPoint', ...requestTag } },
            }),
            why: `elasticfilesystem:TagResource is allowed only while CreateAccessPoint creates the access point (elasticfilesystem:CreateAction) and only with ${DEPLOYMENT_TAG}=${deployment}`,
          },
        ];
      }
      case 'dns':
        return [
          {
            statement: new iam.PolicyStatement({
              actions: ['route53:ChangeResourceRecordSets'],
              resources: [this.zone.hostedZoneArn],
              conditions: {
                'ForAllValues:StringLike': { 'route53:ChangeResourceRecordSetsNormalizedRecordNames': [`ws-*.${this.config.deskDomain}`] },
                'ForAllValues:StringEquals': {
                  'route53:ChangeResourceRecordSetsRecordTypes': ['A'],
                  'route53:ChangeResourceRecordSetsActions': ['UPSERT', 'DELETE'],
                },
              },
            }),
          },
          { statement: new iam.PolicyStatement({ actions: ['route53:ListResourceRecordSets'], resources: [this.zone.hostedZoneArn] }) },
        ];
      case 'provision':
        return this.provisioner
          ? [{ statement: new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.provisioner.functionArn] }) }]
          : [];
      default:
        return this.compute.grants(capability);
    }
  }
}

/** One IAM5 acknowledgement per wildcard resource of `policy`, with the reasons of the statements that use it. */
function acknowledgeWildcards(policy: iam.Policy, grants: readonly Grant[]): void {
  const stack = Stack.of(policy);
  const reasons = new Map<string, Set<string>>();
  for (const { statement, why } of grants) {
    for (const resource of statement.resources) {
      const flat = flattenCfnReference(stack.resolve(resource));
      if (!flat.includes('*')) continue;
      if (!why) throw new Error(`${policy.node.path}: statement ${statement.actions.join(',')} has the wildcard resource ${flat} without a reason`);
      if (!reasons.has(flat)) reasons.set(flat, new Set());
      reasons.get(flat)!.add(why);
    }
  }
  for (const [resource, whys] of reasons) {
    Validations.of(policy).acknowledge({ id: `AwsSolutions-IAM5[Resource::${resource}]`, reason: `${[...whys].join('. ')}.` });
  }
}

export interface ProvisionerKeyProps {
  readonly deploymentId: string;
  /** Changing it generates a new key pair. */
  readonly generation: number;
  readonly logRetention: logs.RetentionDays;
}

/**
 * The provisioner's SSH key: a secret created with a random placeholder, filled at deploy time by a small
 * custom resource (lib/custom-resources/provisioner-key.ts) that generates the pair, writes the private key
 * into the secret and hands back the public key for the launch template. Rotating: bump
 * `ec2.provisionerKeyGeneration` and deploy (new instances get the new key; stopped ones keep the old one and
 * are replaced when housekeeping terminates them).
 */
export class ProvisionerKey extends Construct {
  readonly secret: secretsmanager.Secret;
  readonly publicKey: string;
  readonly generator: CarrelFunction;

  constructor(scope: Construct, id: string, props: ProvisionerKeyProps) {
    super(scope, id);
    this.secret = new secretsmanager.Secret(this, 'Secret', {
      description: `carrel ${props.deploymentId}: the workspace provisioner's SSH private key (PEM), generated at deploy time`,
      generateSecretString: { passwordLength: 32, excludePunctuation: true },
    });
    Validations.of(this.secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The SSH key is rotated by a deploy with a new ec2.provisionerKeyGeneration, which also puts the new public key into the launch template; a Secrets Manager rotation could not update the key that running instances authorize.',
    });
    this.generator = new CarrelFunction(this, 'Generator', {
      name: 'provisioner-key',
      description: `carrel ${props.deploymentId}: generates the provisioner SSH key pair at deploy time (custom resource)`,
      entryDir: CUSTOM_RESOURCE_DIR,
      timeout: Duration.seconds(60),
      logRetention: props.logRetention,
    });
    this.generator.grantActions(['secretsmanager:PutSecretValue'], [this.secret.secretArn]);
    const resource = new CustomResource(this, 'Resource', {
      serviceToken: this.generator.functionArn,
      resourceType: 'Custom::CarrelProvisionerKey',
      properties: { SecretArn: this.secret.secretArn, Generation: String(props.generation) },
    });
    resource.node.addDependency(this.generator.role);
    this.publicKey = resource.getAttString('PublicKey');
  }
}
