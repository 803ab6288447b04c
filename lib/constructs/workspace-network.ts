/**
 * The workspace network: a VPC across two zones (public subnets for the NAT gateway and public workspaces,
 * private subnets with egress for workspaces, EFS mount targets and the provisioner), S3 and DynamoDB gateway
 * endpoints, encrypted flow logs, and the three security groups that say who may talk to whom:
 *
 *   allowed CIDRs ──gate port──▶ workspace ◀──22── provisioner (EC2 only) ──443──▶ AWS APIs
 *                                workspace ──2049──▶ homes (EFS mount targets)
 *
 * AWS APIs are reached through the NAT gateway (TLS, SigV4), not interface endpoints: workspaces need the NAT
 * for package installs and git anyway, the provisioner makes a handful of calls per workspace start
 * (EC2 GetConsoleOutput, Secrets Manager, KMS, DynamoDB through its gateway endpoint), and interface endpoints
 * for EC2, Secrets Manager and KMS in two zones would add a fixed charge (~6 endpoint-zones) and their own
 * security group for no traffic a NAT does not already carry encrypted.
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { CarrelConfig } from '../config.js';
import { flowLogGroupName } from '../names.js';

export interface WorkspaceNetworkProps {
  readonly deploymentId: string;
  readonly computeKind: 'ec2' | 'fargate';
  /** Created VPC or an existing one (config `vpc`). */
  readonly vpc: CarrelConfig['vpc'];
  /** Who may reach the gate port (one ingress rule per CIDR; none when empty). */
  readonly allowedCidrs: readonly string[];
  readonly gatePort: number;
  /** `public` puts workspaces in the public subnets (with a public IP); `private` in the private ones. */
  readonly workspaceAddress: 'private' | 'public';
}

export class WorkspaceNetwork extends Construct {
  readonly vpc: ec2.IVpc;
  /** Private subnets with egress, one per zone: mount targets, the provisioner, private workspaces. */
  readonly privateSubnets: ec2.ISubnet[];
  /** Where workspaces are launched (private or public subnets, one per zone, tried in order on capacity errors). */
  readonly workspaceSubnets: ec2.ISubnet[];
  /** Workspaces: the gate port from the allowed CIDRs, SSH from the provisioner only. */
  readonly workspaceSecurityGroup: ec2.SecurityGroup;
  /** The provisioner Lambda (EC2 only): SSH to workspaces, HTTPS to AWS APIs, nothing else. */
  readonly provisionerSecurityGroup?: ec2.SecurityGroup;
  /** EFS mount targets: NFS from workspaces only. */
  readonly homesSecurityGroup: ec2.SecurityGroup;
  /** Flow logs of the created VPC (absent for an existing VPC, whose owner keeps its own). */
  readonly flowLogGroup?: logs.LogGroup;

  constructor(scope: Construct, id: string, props: WorkspaceNetworkProps) {
    super(scope, id);
    const settings = props.vpc;

    if (settings.vpcId) {
      const zones = settings.availabilityZones ?? [];
      const vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
        vpcId: settings.vpcId,
        availabilityZones: zones,
        privateSubnetIds: settings.privateSubnetIds,
        publicSubnetIds: settings.publicSubnetIds,
      });
      this.vpc = vpc;
      this.privateSubnets = vpc.privateSubnets;
      this.workspaceSubnets = props.workspaceAddress === 'public' ? vpc.publicSubnets : vpc.privateSubnets;
    } else {
      const vpc = new ec2.Vpc(this, 'Vpc', {
        ipAddresses: ec2.IpAddresses.cidr(settings.cidr),
        maxAzs: settings.maxAzs,
        natGateways: settings.natGateways,
        subnetConfiguration: [
          { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
          // /20: 4091 addresses per zone for workspaces (one per instance or Fargate task) and Lambda ENIs.
          { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
        ],
        gatewayEndpoints: {
          S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
          DynamoDB: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
        },
        restrictDefaultSecurityGroup: true,
      });
      this.vpc = vpc;
      this.privateSubnets = vpc.privateSubnets;
      this.workspaceSubnets = props.workspaceAddress === 'public' ? vpc.publicSubnets : vpc.privateSubnets;
      this.flowLogGroup = this.addFlowLogs(vpc, props.deploymentId, settings.flowLogRetentionDays as logs.RetentionDays);
    }

    this.workspaceSecurityGroup = new ec2.SecurityGroup(this, 'WorkspaceSecurityGroup', {
      vpc: this.vpc,
      description: `carrel ${props.deploymentId} workspaces: gate port ${props.gatePort} from allowed networks only`,
      // Researchers install packages and push to git remotes; the enclave, not the workspace, is where data
      // must not leave (workspaces hold synthetic data only).
      allowAllOutbound: true,
    });
    for (const cidr of props.allowedCidrs) {
      const peer = cidr.includes(':') ? ec2.Peer.ipv6(cidr) : ec2.Peer.ipv4(cidr);
      this.workspaceSecurityGroup.addIngressRule(peer, ec2.Port.tcp(props.gatePort), `gate (HTTPS) from ${cidr}`);
    }

    if (props.computeKind === 'ec2') {
      const provisioner = new ec2.SecurityGroup(this, 'ProvisionerSecurityGroup', {
        vpc: this.vpc,
        description: `carrel ${props.deploymentId} provisioner: SSH to workspaces, HTTPS to AWS APIs`,
        allowAllOutbound: false,
      });
      provisioner.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'AWS APIs over HTTPS (NAT; gateway endpoints)');
      provisioner.addEgressRule(this.workspaceSecurityGroup, ec2.Port.tcp(22), 'SSH to workspaces');
      this.workspaceSecurityGroup.addIngressRule(provisioner, ec2.Port.tcp(22), 'SSH from the provisioner only');
      this.provisionerSecurityGroup = provisioner;
    }

    this.homesSecurityGroup = new ec2.SecurityGroup(this, 'HomesSecurityGroup', {
      vpc: this.vpc,
      description: `carrel ${props.deploymentId} homes (EFS mount targets): NFS from workspaces only`,
      allowAllOutbound: false,
    });
    this.homesSecurityGroup.addIngressRule(this.workspaceSecurityGroup, ec2.Port.tcp(2049), 'NFS from workspaces only');
  }

  /** All traffic (accepted and rejected) to a KMS-encrypted log group with retention. */
  private addFlowLogs(vpc: ec2.Vpc, deploymentId: string, retention: logs.RetentionDays): logs.LogGroup {
    const stack = Stack.of(this);
    const logGroupName = flowLogGroupName(deploymentId);
    const key = new kms.Key(this, 'FlowLogKey', {
      description: `carrel ${deploymentId}: encrypts the workspace VPC flow logs`,
      enableKeyRotation: true,
      alias: `alias/carrel/${deploymentId}/flow-logs`,
      removalPolicy: RemovalPolicy.RETAIN,
      pendingWindow: Duration.days(30),
    });
    // CloudWatch Logs encrypts with the key only for this log group (encryption context), as the CloudWatch
    // Logs guide documents; the log group's ARN is built from its fixed name to avoid a key ↔ group cycle.
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnEquals: { 'kms:EncryptionContext:aws:logs:arn': `arn:${stack.partition}:logs:${stack.region}:${stack.account}:log-group:${logGroupName}` },
        },
      }),
    );
    const logGroup = new logs.LogGroup(this, 'FlowLogs', {
      logGroupName,
      encryptionKey: key,
      retention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(logGroup),
      trafficType: ec2.FlowLogTrafficType.ALL,
    });
    return logGroup;
  }
}
