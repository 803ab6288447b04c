/**
 * One IAM role per home for Fargate workspaces (made by BoundedTaskRoles, iam-task-roles.ts, as the enclave's
 * per-run roles are). Every container of a task can read the task role's credentials (169.254.170.2),
 * researcher code included, so a role shared by all tasks would let any researcher mount any home. Each
 * home's task role may mount only that home's access point:
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
import type { IAMClient } from '@aws-sdk/client-iam';
import type { Log } from '../../core/ports.js';
import type { WorkspaceKey } from '../../core/workspace.js';
import { ComputeError, computeFailure } from './ec2-compute.js';
import { BoundedTaskRoles, parseLocation, type AwsLocation, type TaskRole } from './iam-task-roles.js';

export type { AwsLocation } from './iam-task-roles.js';

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

/** Where the deployment lives, read from one of its regional ARNs (`arn:<partition>:<service>:<region>:<account>:…`). */
export function locationOfArn(arn: string): AwsLocation {
  const location = parseLocation(arn);
  if (!location) throw new ComputeError(`"${arn}" is not a regional ARN with an account`);
  return location;
}

export interface HomeRolesOptions {
  readonly deploymentId: string;
  readonly location: AwsLocation;
  /** The homes file system (`fs-…`). */
  readonly fileSystemId: string;
  readonly log: Log;
}

export type HomeRole = TaskRole;

export class HomeTaskRoles {
  readonly path: string;
  readonly boundaryArn: string;
  private readonly roles: BoundedTaskRoles;

  constructor(
    iam: IAMClient,
    private readonly options: HomeRolesOptions,
  ) {
    const { partition, account } = options.location;
    this.path = homeRolePath(options.deploymentId);
    this.boundaryArn = `arn:${partition}:iam::${account}:policy/carrel/${options.deploymentId}/${homeRoleBoundaryName(options.deploymentId)}`;
    this.roles = new BoundedTaskRoles(iam, { path: this.path, boundaryArn: this.boundaryArn, location: options.location, kind: 'home task role', failure: computeFailure, log: options.log });
  }

  roleName(key: WorkspaceKey): string {
    return homeRoleName(this.options.deploymentId, key);
  }

  roleArn(key: WorkspaceKey): string {
    return this.roles.roleArn(this.roleName(key));
  }

  /** The home's role, allowed to mount `accessPointId` only (the policy is put again: the access point may have changed). */
  async ensure(key: WorkspaceKey, accessPointId: string): Promise<HomeRole> {
    return this.roles.ensure({
      roleName: this.roleName(key),
      description: `carrel ${this.options.deploymentId}: the workspace task of one home; mounts only access point ${accessPointId}`,
      tags: { 'carrel:deployment': this.options.deploymentId, 'carrel:analysis': key.analysisId, 'carrel:user': key.userId, 'carrel:home': accessPointId },
      policyName: HOME_ROLE_POLICY,
      policy: this.mountPolicy(accessPointId),
      policyPurpose: 'mount its home',
    });
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
