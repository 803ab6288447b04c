/**
 * IAM as the task roles see it (aws-sdk-client-mock): CreateRole once per name, then EntityAlreadyExists;
 * GetRole (with tags); PutRolePolicy, ListRolePolicies, DeleteRolePolicy; DeleteRole, refused while the role
 * still has a policy (DeleteConflict), as IAM does. A missing role is NoSuchEntity.
 */
import {
  CreateRoleCommand,
  DeleteConflictException,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  EntityAlreadyExistsException,
  GetRoleCommand,
  ListRolePoliciesCommand,
  NoSuchEntityException,
  PutRolePolicyCommand,
  type CreateRoleCommandInput,
  type IAMClient,
  type Role,
} from '@aws-sdk/client-iam';
import type { AwsStub } from 'aws-sdk-client-mock';

/** The trust policy every task role gets: ECS tasks of this account (123456789012, eu-west-2) only. */
export const ECS_TASKS_TRUST = {
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Principal: { Service: 'ecs-tasks.amazonaws.com' },
      Action: 'sts:AssumeRole',
      Condition: { StringEquals: { 'aws:SourceAccount': '123456789012' }, ArnLike: { 'aws:SourceArn': 'arn:aws:ecs:eu-west-2:123456789012:*' } },
    },
  ],
};

export function fakeIamRoles(iam: AwsStub<any, any, IAMClient['config']>, createdAt = new Date()): Map<string, Role> & { readonly policies: Map<string, Map<string, string>> } {
  const roles = new Map<string, Role>() as Map<string, Role> & { policies: Map<string, Map<string, string>> };
  roles.policies = new Map();
  const noSuch = (name: string) => new NoSuchEntityException({ message: `The role with name ${name} cannot be found.`, $metadata: { httpStatusCode: 404 } });
  const policiesOf = (name: string) => {
    if (!roles.has(name)) throw noSuch(name);
    if (!roles.policies.has(name)) roles.policies.set(name, new Map());
    return roles.policies.get(name)!;
  };
  iam.on(CreateRoleCommand).callsFake((input: CreateRoleCommandInput) => {
    if (roles.has(input.RoleName!)) throw new EntityAlreadyExistsException({ message: `Role with name ${input.RoleName} already exists.`, $metadata: { httpStatusCode: 409 } });
    const role: Role = {
      RoleName: input.RoleName!,
      Path: input.Path!,
      RoleId: `AROA${String(roles.size).padStart(17, '0')}`,
      Arn: `arn:aws:iam::123456789012:role${input.Path}${input.RoleName}`,
      CreateDate: createdAt,
      PermissionsBoundary: { PermissionsBoundaryType: 'PermissionsBoundaryPolicy', PermissionsBoundaryArn: input.PermissionsBoundary },
      ...(input.Tags ? { Tags: input.Tags } : {}),
    };
    roles.set(input.RoleName!, role);
    return { Role: role };
  });
  iam.on(GetRoleCommand).callsFake((input: { RoleName: string }) => ({ Role: roles.get(input.RoleName) }));
  iam.on(PutRolePolicyCommand).callsFake((input: { RoleName: string; PolicyName: string; PolicyDocument: string }) => {
    policiesOf(input.RoleName).set(input.PolicyName, input.PolicyDocument);
    return {};
  });
  iam.on(ListRolePoliciesCommand).callsFake((input: { RoleName: string }) => ({ PolicyNames: [...policiesOf(input.RoleName).keys()], IsTruncated: false }));
  iam.on(DeleteRolePolicyCommand).callsFake((input: { RoleName: string; PolicyName: string }) => {
    if (!policiesOf(input.RoleName).delete(input.PolicyName)) throw new NoSuchEntityException({ message: `The role policy ${input.PolicyName} cannot be found.`, $metadata: { httpStatusCode: 404 } });
    return {};
  });
  iam.on(DeleteRoleCommand).callsFake((input: { RoleName: string }) => {
    if (policiesOf(input.RoleName).size > 0) throw new DeleteConflictException({ message: 'Cannot delete entity, must delete policies first.', $metadata: { httpStatusCode: 409 } });
    roles.delete(input.RoleName);
    roles.policies.delete(input.RoleName);
    return {};
  });
  return roles;
}
