/**
 * Names shared by the stacks of one deployment. Some resources are named (rather than referenced) so that a
 * stack deployed earlier can refer to a resource of a stack deployed later without a reference cycle: the
 * homes' file-system policy (stateful) names the workspace roles (stateless) by their ARNs.
 */

/** Tag on every resource of a deployment; reconciliation, IAM conditions and the CLI find resources by it. */
export const DEPLOYMENT_TAG = 'carrel:deployment';

/** The IAM role names of workspace compute (≤ 64 characters: deployment ids are at most 24). */
export function workspaceRoleNames(deploymentId: string): { readonly instance: string; readonly task: string } {
  return { instance: `carrel-${deploymentId}-ws-instance`, task: `carrel-${deploymentId}-ws-task` };
}

/**
 * The home-snapshot function's role (the enclave's submit): named because the homes' file-system policy
 * (stateful) lets it mount read-only, and the function lives in the stateless stack.
 */
export function homeSnapshotRoleName(deploymentId: string): string {
  return `carrel-${deploymentId}-home-snapshot`;
}

/**
 * Task definition family of the base Fargate workspace definition. The ECS adapter registers one revision per
 * home in families `<family>-<hash>` (RunTask overrides cannot change volumes).
 */
export function taskDefinitionFamily(deploymentId: string): string {
  return `carrel-${deploymentId}-ws`;
}

/** Name of the log group that receives the workspace VPC's flow logs. */
export function flowLogGroupName(deploymentId: string): string {
  return `/carrel/${deploymentId}/vpc-flow-logs`;
}
