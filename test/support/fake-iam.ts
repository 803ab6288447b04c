/** IAM as the home task roles see it (aws-sdk-client-mock): CreateRole once per name, then EntityAlreadyExists; GetRole; PutRolePolicy. */
import { CreateRoleCommand, EntityAlreadyExistsException, GetRoleCommand, PutRolePolicyCommand, type CreateRoleCommandInput, type IAMClient, type Role } from '@aws-sdk/client-iam';
import type { AwsStub } from 'aws-sdk-client-mock';

export function fakeIamRoles(iam: AwsStub<any, any, IAMClient['config']>, createdAt = new Date()): Map<string, Role> {
  const roles = new Map<string, Role>();
  iam.on(CreateRoleCommand).callsFake((input: CreateRoleCommandInput) => {
    if (roles.has(input.RoleName!)) throw new EntityAlreadyExistsException({ message: `Role with name ${input.RoleName} already exists.`, $metadata: { httpStatusCode: 409 } });
    const role: Role = {
      RoleName: input.RoleName!,
      Path: input.Path!,
      RoleId: `AROA${String(roles.size).padStart(17, '0')}`,
      Arn: `arn:aws:iam::123456789012:role${input.Path}${input.RoleName}`,
      CreateDate: createdAt,
      PermissionsBoundary: { PermissionsBoundaryType: 'PermissionsBoundaryPolicy', PermissionsBoundaryArn: input.PermissionsBoundary },
    };
    roles.set(input.RoleName!, role);
    return { Role: role };
  });
  iam.on(GetRoleCommand).callsFake((input: { RoleName: string }) => ({ Role: roles.get(input.RoleName) }));
  iam.on(PutRolePolicyCommand).resolves({});
  return roles;
}
