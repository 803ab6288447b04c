/**
 * Task roles made at run time, one per thing that must be kept apart from its neighbours: a home's workspace
 * task (iam-home-roles.ts) or an enclave run (run-resources.ts). Every container of a task can read its task
 * role's credentials, so a role shared by all tasks would give each what all of them may do. Each such role:
 *  - lives under one IAM path of the deployment (`/carrel/<deployment>/<kind>/`) and has the deployment's
 *    permissions boundary for that kind: the creator may create roles only there and only with that boundary
 *    (its own IAM says so), so even a compromised creator cannot make a role that does more;
 *  - is trusted by ecs-tasks.amazonaws.com for this account's tasks only (aws:SourceAccount / aws:SourceArn);
 *  - has one inline policy, which `ensure` puts again every time (it overwrites), so an attempt that died
 *    between CreateRole and PutRolePolicy ends with the right policy;
 *  - is found by name: an existing role of that name is used only if it is on the path, with the boundary
 *    (and carries the owner tags asked for).
 */
import {
  CreateRoleCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  EntityAlreadyExistsException,
  GetRoleCommand,
  ListRolePoliciesCommand,
  NoSuchEntityException,
  PutRolePolicyCommand,
  type IAMClient,
  type Role,
} from '@aws-sdk/client-iam';
import type { Log } from '../../core/ports.js';

/** Where the deployment lives (partition, region, account), as read from one of its ARNs. */
export interface AwsLocation {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
}

/** Partition, region and account of a regional ARN (`arn:<partition>:<service>:<region>:<account>:…`); undefined if it is not one. */
export function parseLocation(arn: string): AwsLocation | undefined {
  const match = /^arn:(aws[a-z-]*):[a-z0-9-]+:([a-z0-9-]+):(\d{12}):/.exec(arn);
  return match ? { partition: match[1]!, region: match[2]!, account: match[3]! } : undefined;
}

export interface TaskRolesOptions {
  /** The IAM path of these roles, `/carrel/<deployment>/<kind>/`. */
  readonly path: string;
  /** The managed policy every one of them has as its permissions boundary. */
  readonly boundaryArn: string;
  readonly location: AwsLocation;
  /** What these roles are, for messages (`home task role`, `run task role`). */
  readonly kind: string;
  /** How an SDK failure becomes this adapter's error (transient ones a TransientError). */
  readonly failure: (error: unknown, what: string) => Error;
  readonly log: Log;
}

export interface TaskRoleSpec {
  readonly roleName: string;
  readonly description: string;
  readonly tags: Readonly<Record<string, string>>;
  /** Tag keys whose values an existing role of that name must carry too (whose role it is). @default none */
  readonly ownerTags?: readonly string[];
  readonly policyName: string;
  readonly policy: unknown;
  /** What the policy does, for the error message of a refused PutRolePolicy (`mount its home`). */
  readonly policyPurpose: string;
}

export interface TaskRole {
  readonly arn: string;
  /** When IAM created it: a role younger than a minute may not be usable everywhere yet (eventual consistency). */
  readonly createdAt: Date;
}

export class BoundedTaskRoles {
  constructor(
    private readonly iam: IAMClient,
    readonly options: TaskRolesOptions,
  ) {}

  roleArn(roleName: string): string {
    const { partition, account } = this.options.location;
    return `arn:${partition}:iam::${account}:role${this.options.path}${roleName}`;
  }

  /** CreateRole once (or take the existing one if it is ours), then PutRolePolicy. */
  async ensure(spec: TaskRoleSpec): Promise<TaskRole> {
    const { roleName } = spec;
    const { kind, failure } = this.options;
    let role: Role | undefined;
    try {
      const out = await this.iam.send(
        new CreateRoleCommand({
          RoleName: roleName,
          Path: this.options.path,
          AssumeRolePolicyDocument: JSON.stringify(this.trustPolicy()),
          PermissionsBoundary: this.options.boundaryArn,
          Description: spec.description,
          MaxSessionDuration: 3600,
          Tags: Object.entries(spec.tags).map(([Key, Value]) => ({ Key, Value })),
        }),
      );
      role = out.Role;
      this.options.log.info(`${kind} created`, { roleName });
    } catch (error) {
      if (!(error instanceof EntityAlreadyExistsException)) throw failure(error, `Creating the ${kind} ${roleName}`);
      role = await this.existing(spec);
    }
    try {
      await this.iam.send(new PutRolePolicyCommand({ RoleName: roleName, PolicyName: spec.policyName, PolicyDocument: JSON.stringify(spec.policy) }));
    } catch (error) {
      throw failure(error, `Letting the ${kind} ${roleName} ${spec.policyPurpose}`);
    }
    if (!role?.Arn) throw failure(new Error('IAM returned no ARN'), `Creating the ${kind} ${roleName}`);
    return { arn: role.Arn, createdAt: role.CreateDate ?? new Date() };
  }

  /** Delete one of these roles (deleteTaskRole). True if it existed. */
  remove(roleName: string): Promise<boolean> {
    return deleteTaskRole(this.iam, roleName, this.options);
  }

  /** An existing role of that name must be ours: on the path, with the boundary, with the owner tags. */
  private async existing(spec: TaskRoleSpec): Promise<Role> {
    const { kind, failure, path, boundaryArn } = this.options;
    let role: Role | undefined;
    try {
      role = (await this.iam.send(new GetRoleCommand({ RoleName: spec.roleName }))).Role;
    } catch (error) {
      throw failure(error, `Reading the ${kind} ${spec.roleName}`);
    }
    const tags = new Map((role?.Tags ?? []).map((t) => [t.Key, t.Value]));
    const owned = (spec.ownerTags ?? []).every((key) => tags.get(key) === spec.tags[key]);
    if (!role || role.Path !== path || role.PermissionsBoundary?.PermissionsBoundaryArn !== boundaryArn || !owned) {
      const owner = spec.ownerTags?.length ? `, tagged ${spec.ownerTags.map((k) => `${k}=${spec.tags[k]}`).join(' ')}` : '';
      throw failure(
        new Error(`The role ${spec.roleName} exists but is not a ${kind} of this deployment (path ${path}, boundary ${boundaryArn}${owner}); carrel will not use it`),
        `Taking the existing ${kind} ${spec.roleName}`,
      );
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
}

/**
 * Delete a role made here: its inline policies first (IAM refuses to delete a role that has any), then the role.
 * A role or policy already gone counts as deleted. True if the role existed.
 */
export async function deleteTaskRole(iam: IAMClient, roleName: string, options: Pick<TaskRolesOptions, 'kind' | 'failure' | 'log'>): Promise<boolean> {
  const { kind, failure } = options;
  const gone = (error: unknown) => error instanceof NoSuchEntityException;
  const policies: string[] = [];
  try {
    let Marker: string | undefined;
    do {
      const out = await iam.send(new ListRolePoliciesCommand({ RoleName: roleName, Marker }));
      policies.push(...(out.PolicyNames ?? []));
      Marker = out.IsTruncated ? out.Marker : undefined;
    } while (Marker);
  } catch (error) {
    if (gone(error)) return false;
    throw failure(error, `Listing the policies of the ${kind} ${roleName}`);
  }
  for (const PolicyName of policies) {
    try {
      await iam.send(new DeleteRolePolicyCommand({ RoleName: roleName, PolicyName }));
    } catch (error) {
      if (!gone(error)) throw failure(error, `Deleting the policy ${PolicyName} of the ${kind} ${roleName}`);
    }
  }
  try {
    await iam.send(new DeleteRoleCommand({ RoleName: roleName }));
  } catch (error) {
    if (gone(error)) return false;
    throw failure(error, `Deleting the ${kind} ${roleName}`);
  }
  options.log.info(`${kind} deleted`, { roleName });
  return true;
}
