/**
 * One IAM role per home for Fargate workspaces. Every container of a task can read the task role's
 * credentials (169.254.170.2), researcher code included, so a role shared by all tasks would let any
 * researcher mount any home. Each home's task role may mount only that home's access point:
 *  - created once, with the home's task definition, and kept with the home (like the access point);
 *  - under the deployment's path `/carrel/<deployment>/homes/` with the deployment's permissions boundary
 *    (the launcher may create roles only there and only with that boundary, so even a compromised launcher
 *    cannot make a role that does more than mount homes);
 *  - trusted by ecs-tasks.amazonaws.com for this account's tasks only (aws:SourceAccount / aws:SourceArn);
 *  - an inline policy: ClientMount/ClientWrite on the homes file system, through a mount target, with
 *    elasticfilesystem:AccessPointArn = that home's access point.
 * The names are deterministic (deployment + a hash of analysis and researcher), so the desk finds the role of
 * a workspace without storing it, and the bootstrap route can check a caller's role against its workspace.
 */
import { createHash } from 'node:crypto';
import {
  CreateRoleCommand,
  EntityAlreadyExistsException,
  GetRoleCommand,
  PutRolePolicyCommand,
  type IAMClient,
  type Role,
} from '@aws-sdk/client-iam';
import type { Log } from '../../core/ports.js';
import type { WorkspaceKey } from '../../core/workspace.js';
import { ComputeError, computeFailure } from './ec2-compute.js';

/** Name of the inline policy that lets a home role mount its home. */
export const HOME_ROLE_POLICY = 'mount-home';

/** IAM path of the deployment's home roles (the launcher's IAM grants and the EFS policy match on it). */
export function homeRolePath(deploymentId: string): string {
  return `/carrel/${deploymentId}/homes/`;
}

/** Name of the managed policy every home role has as its permissions boundary (path `/carrel/<deployment>/`). */
export function homeRoleBoundaryName(deploymentId: string): string {
  return `carrel-${deploymentId}-ws-home-boundary`;
}

/** The home role's name: `carrel-<deployment>-home-<16 hex>` (≤ 53 characters: deployment ids are ≤ 24). */
export function homeRoleName(deploymentId: string, key: WorkspaceKey): string {
  return `carrel-${deploymentId}-home-${createHash('sha256').update(`${key.analysisId}/${key.userId}`).digest('hex').slice(0, 16)}`;
}

/** Where the deployment lives, read from the cluster ARN (`arn:<partition>:ecs:<region>:<account>:cluster/<name>`). */
export interface AwsLocation {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
}

export function locationOfArn(arn: string): AwsLocation {
  const match = /^arn:(aws[a-z-]*):[a-z0-9-]+:([a-z0-9-]+):(\d{12}):/.exec(arn);
  if (!match) throw new ComputeError(`"${arn}" is not a regional ARN with an account`);
  return { partition: match[1]!, region: match[2]!, account: match[3]! };
}

export interface HomeRolesOptions {
  readonly deploymentId: string;
  readonly location: AwsLocation;
  /** The homes file system (`fs-…`). */
  readonly fileSystemId: string;
  readonly log: Log;
}

export interface HomeRole {
  readonly arn: string;
  /** When IAM created it: a role younger than a minute may not be usable everywhere yet (eventual consistency). */
  readonly createdAt: Date;
}

export class HomeTaskRoles {
  readonly path: string;
  readonly boundaryArn: string;

  constructor(
    private readonly iam: IAMClient,
    private readonly options: HomeRolesOptions,
  ) {
    const { partition, account } = options.location;
    this.path = homeRolePath(options.deploymentId);
    this.boundaryArn = `arn:${partition}:iam::${account}:policy/carrel/${options.deploymentId}/${homeRoleBoundaryName(options.deploymentId)}`;
  }

  roleName(key: WorkspaceKey): string {
    return homeRoleName(this.options.deploymentId, key);
  }

  roleArn(key: WorkspaceKey): string {
    const { partition, account } = this.options.location;
    return `arn:${partition}:iam::${account}:role${this.path}${this.roleName(key)}`;
  }

  /**
   * The home's role, allowed to mount `accessPointId` only: CreateRole once (an existing role is checked to
   * be this deployment's, with the boundary), then PutRolePolicy, which overwrites, so a run that died
   * between the two, or a home whose access point changed, ends with the right policy.
   */
  async ensure(key: WorkspaceKey, accessPointId: string): Promise<HomeRole> {
    const roleName = this.roleName(key);
    let role: Role | undefined;
    try {
      const out = await this.iam.send(
        new CreateRoleCommand({
          RoleName: roleName,
          Path: this.path,
          AssumeRolePolicyDocument: JSON.stringify(this.trustPolicy()),
          PermissionsBoundary: this.boundaryArn,
          Description: `carrel ${this.options.deploymentId}: the workspace task of one home; mounts only access point ${accessPointId}`,
          MaxSessionDuration: 3600,
          Tags: [
            { Key: 'carrel:deployment', Value: this.options.deploymentId },
            { Key: 'carrel:analysis', Value: key.analysisId },
            { Key: 'carrel:user', Value: key.userId },
            { Key: 'carrel:home', Value: accessPointId },
          ],
        }),
      );
      role = out.Role;
      this.options.log.info('home task role created', { roleName, accessPointId });
    } catch (error) {
      if (!(error instanceof EntityAlreadyExistsException)) throw computeFailure(error, `Creating the home task role ${roleName}`);
      role = await this.existing(roleName);
    }
    try {
      await this.iam.send(new PutRolePolicyCommand({ RoleName: roleName, PolicyName: HOME_ROLE_POLICY, PolicyDocument: JSON.stringify(this.mountPolicy(accessPointId)) }));
    } catch (error) {
      throw computeFailure(error, `Letting the home task role ${roleName} mount its home`);
    }
    if (!role?.Arn) throw new ComputeError(`IAM returned no ARN for the home task role ${roleName}`);
    return { arn: role.Arn, createdAt: role.CreateDate ?? new Date() };
  }

  /** An existing role of that name must be ours: on the deployment's path, with its boundary. */
  private async existing(roleName: string): Promise<Role> {
    let role: Role | undefined;
    try {
      role = (await this.iam.send(new GetRoleCommand({ RoleName: roleName }))).Role;
    } catch (error) {
      throw computeFailure(error, `Reading the home task role ${roleName}`);
    }
    if (!role || role.Path !== this.path || role.PermissionsBoundary?.PermissionsBoundaryArn !== this.boundaryArn) {
      throw new ComputeError(`The role ${roleName} exists but is not a home task role of this deployment (path ${this.path}, boundary ${this.boundaryArn}); carrel will not use it`);
    }
    return role;
  }

  private trustPolicy() {
    const { partition, region, account } = this.options.location;
    return {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Service: 'ecs-tasks.amazonaws.com' },
          Action: 'sts:AssumeRole',
          Condition: {
            StringEquals: { 'aws:SourceAccount': account },
            ArnLike: { 'aws:SourceArn': `arn:${partition}:ecs:${region}:${account}:*` },
          },
        },
      ],
    };
  }

  private mountPolicy(accessPointId: string) {
    const { partition, region, account } = this.options.location;
    const efs = (resource: string) => `arn:${partition}:elasticfilesystem:${region}:${account}:${resource}`;
    return {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
          Resource: efs(`file-system/${this.options.fileSystemId}`),
          Condition: {
            StringEquals: { 'elasticfilesystem:AccessPointArn': efs(`access-point/${accessPointId}`) },
            Bool: { 'elasticfilesystem:AccessedViaMountTarget': 'true' },
          },
        },
      ],
    };
  }
}
