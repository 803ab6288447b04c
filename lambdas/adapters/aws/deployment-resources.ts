/**
 * What a platform engineer's CLI needs to find about a deployment, by its `carrel:deployment` tag:
 *  - every tagged resource (the Resource Groups Tagging API lists what CloudFormation created and what the
 *    desk created at run time: instances, volumes, network interfaces, access points, task definitions,
 *    spares), and the roles made at run time (DeploymentRoles: the Tagging API's GetResources does not list
 *    IAM roles, so they are found by their path `/carrel/<deployment>/`: the homes' and the runs' roles), and
 *  - the desk's own configuration: the environment of its `stop` function (found by its `carrel:function`
 *    tag), so the CLI runs the use cases with exactly the deployed settings.
 * Throttling, 5xx and timeouts become TransientError; anything else keeps its AWS message.
 */
import { GetFunctionConfigurationCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { GetResourcesCommand, type ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import { ListRolesCommand, ListRoleTagsCommand, type IAMClient, type Role } from '@aws-sdk/client-iam';
import { CarrelError } from '../../core/errors.js';
import { rethrowAwsError } from './clients/errors.js';

/** Tag on each desk function naming its entry point (lib/constructs/desk-functions.ts). */
export const FUNCTION_TAG = 'carrel:function';
const DEPLOYMENT_TAG = 'carrel:deployment';

export interface TaggedResource {
  readonly arn: string;
  /** `service:type` from the ARN, e.g. `ec2:instance`, `elasticfilesystem:access-point`. */
  readonly type: string;
  readonly tags: Readonly<Record<string, string>>;
}

/** The deployment could not be found (wrong id or region, or not deployed). */
export class DeploymentNotFoundError extends CarrelError {}

/** `service:resource-type` of an ARN (`arn:aws:ec2:eu-west-2:1234:instance/i-0…` → `ec2:instance`). */
export function resourceTypeOf(arn: string): string {
  const [, , service = '?', , , ...rest] = arn.split(':');
  const resource = rest.join(':');
  if (service === 's3' && !resource.includes('/')) return 's3:bucket';
  const type = resource.includes('/') ? resource.split('/')[0] : resource.includes(':') ? resource.split(':')[0] : resource;
  return `${service}:${type}`;
}

export class DeploymentResources {
  constructor(
    private readonly tagging: ResourceGroupsTaggingAPIClient,
    private readonly lambda: LambdaClient,
    private readonly deploymentId: string,
  ) {}

  /** Every resource tagged with the deployment, in this client's region (all pages), sorted by type then ARN. */
  async list(extraTags: Readonly<Record<string, string>> = {}, resourceTypes?: readonly string[]): Promise<readonly TaggedResource[]> {
    const resources: TaggedResource[] = [];
    let PaginationToken: string | undefined;
    const TagFilters = [{ Key: DEPLOYMENT_TAG, Values: [this.deploymentId] }, ...Object.entries(extraTags).map(([Key, value]) => ({ Key, Values: [value] }))];
    do {
      let out;
      try {
        out = await this.tagging.send(
          new GetResourcesCommand({ TagFilters, ResourcesPerPage: 100, PaginationToken, ...(resourceTypes ? { ResourceTypeFilters: [...resourceTypes] } : {}) }),
        );
      } catch (error) {
        rethrowAwsError(error, 'Listing the deployment\'s resources');
      }
      for (const mapping of out.ResourceTagMappingList ?? []) {
        if (!mapping.ResourceARN) continue;
        const tags = Object.fromEntries((mapping.Tags ?? []).filter((t) => t.Key).map((t) => [t.Key as string, t.Value ?? '']));
        resources.push({ arn: mapping.ResourceARN, type: resourceTypeOf(mapping.ResourceARN), tags });
      }
      PaginationToken = out.PaginationToken || undefined;
    } while (PaginationToken);
    return resources.sort((a, b) => a.type.localeCompare(b.type) || a.arn.localeCompare(b.arn));
  }

  /** The environment of the deployment's desk function `entry` (e.g. `stop`): the desk's validated settings come from it. */
  async deskEnvironment(entry = 'stop'): Promise<Record<string, string>> {
    const [fn] = await this.list({ [FUNCTION_TAG]: entry }, ['lambda:function']);
    if (!fn) {
      throw new DeploymentNotFoundError(
        `No desk function "${entry}" tagged ${DEPLOYMENT_TAG}=${this.deploymentId} in this region: check the deployment id and the region (AWS_REGION)`,
      );
    }
    try {
      const out = await this.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: fn.arn }));
      return { ...(out.Environment?.Variables ?? {}) };
    } catch (error) {
      return rethrowAwsError(error, `Reading the configuration of ${fn.arn}`);
    }
  }
}

/** The IAM roles carrel made at run time for a deployment (per home, per run), with their tags. */
export class DeploymentRoles {
  constructor(
    private readonly iam: IAMClient,
    private readonly deploymentId: string,
  ) {}

  /** Every role under `/carrel/<deployment>/` (all pages), with its tags (ListRoles leaves them out), sorted by ARN. */
  async list(): Promise<readonly TaggedResource[]> {
    const roles: Role[] = [];
    let Marker: string | undefined;
    do {
      let out;
      try {
        out = await this.iam.send(new ListRolesCommand({ PathPrefix: `/carrel/${this.deploymentId}/`, Marker }));
      } catch (error) {
        rethrowAwsError(error, "Listing the deployment's roles");
      }
      roles.push(...(out.Roles ?? []));
      Marker = out.IsTruncated ? out.Marker : undefined;
    } while (Marker);
    const found: TaggedResource[] = [];
    for (const role of roles) {
      if (!role.Arn || !role.RoleName) continue;
      let tags;
      try {
        tags = (await this.iam.send(new ListRoleTagsCommand({ RoleName: role.RoleName }))).Tags ?? [];
      } catch (error) {
        rethrowAwsError(error, `Reading the tags of ${role.RoleName}`);
      }
      found.push({ arn: role.Arn, type: 'iam:role', tags: Object.fromEntries(tags.map((t) => [t.Key, t.Value])) });
    }
    return found.sort((a, b) => a.arn.localeCompare(b.arn));
  }
}
