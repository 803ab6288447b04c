/**
 * What an enclave run gets for itself on AWS (core port RunCredentials), and takes away once it has stopped:
 *  - **its own task role** (`prepare`), made like the homes' roles (BoundedTaskRoles, iam-task-roles.ts): under
 *    `/carrel/<deployment>/runs/`, with the deployment's run boundary (lib/constructs/enclave-aws.ts: at most
 *    what any run may do), trusted only by this account's ECS tasks, tagged with deployment, analysis and run,
 *    and one inline policy: read the dataset, `PutObject` only under `runs/<analysisId>/<runId>/` of the outputs
 *    bucket, the enclave key for that. The submitted code runs with these credentials, so it can write its own
 *    outputs and nobody else's. The build (runBuildSpec) puts this role into the run's task definition;
 *  - **clean-up** (`cleanUp`): the role (inline policies first, then the role) and every revision of the run's
 *    task definition family `<template family>-<runId>` (deregistered, then deleted). What is gone already
 *    counts as done, so a retried or repeated clean-up is harmless.
 * Throttling, 5xx, timeouts and IAM's concurrent-modification conflicts are TransientError (the state machine
 * retries them); anything else is a RunResourcesError naming what failed.
 */
import {
  ConcurrentModificationException,
  DeleteConflictException,
  LimitExceededException,
  type IAMClient,
} from '@aws-sdk/client-iam';
import {
  DeleteTaskDefinitionsCommand,
  DeregisterTaskDefinitionCommand,
  ListTaskDefinitionsCommand,
  type ECSClient,
  type Failure,
  type TaskDefinitionStatus,
} from '@aws-sdk/client-ecs';
import { CarrelError, TransientError } from '../../core/errors.js';
import type { Log } from '../../core/ports.js';
import type { RunCredentials } from '../../core/runs/deps.js';
import type { Run, RunKey } from '../../core/runs/run.js';
import { awsErrorDetail, isTransientAwsError } from './clients/errors.js';
import { BoundedTaskRoles, deleteTaskRole, parseLocation, type AwsLocation } from './iam-task-roles.js';

/** Name of the run role's one inline policy. */
export const RUN_ROLE_POLICY = 'run-dataset-and-outputs';
/** IAM allows role names of at most 64 characters. */
const ROLE_NAME_MAX = 64;
/** DeleteTaskDefinitions takes at most 10 revisions per call. */
const DELETE_BATCH = 10;

/** IAM path of the deployment's per-run roles (the creator's IAM, PassRole and the outputs bucket policy match on it). */
export function runRolePath(deploymentId: string): string {
  return `/carrel/${deploymentId}/runs/`;
}

/** Name of the managed policy every run role has as its permissions boundary (path `/carrel/<deployment>/`). */
export function runRoleBoundaryName(deploymentId: string): string {
  return `carrel-${deploymentId}-enclave-run-boundary`;
}

/**
 * The run role's name, `carrel-<deployment>-run-<runId>`: found from the run alone, so the build computes the
 * same ARN. Run ids are 28 characters (`r<yyyymmdd>t<hhmmss>z-<10 random>`, newRunId) and deployment ids at
 * most 24, which makes 64, IAM's limit: a longer one is refused rather than shortened into another's name.
 */
export function runRoleName(deploymentId: string, runId: string): string {
  const name = `${runRoleNamePrefix(deploymentId)}${runId}`;
  if (name.length > ROLE_NAME_MAX || !/^[\w+=,.@-]+$/.test(name)) {
    throw new RunResourcesError(`The run id ${runId} makes the role name ${name}, which IAM does not allow (at most ${ROLE_NAME_MAX} of letters, digits and +=,.@_-)`);
  }
  return name;
}

/** Every run role's name starts with this (the IAM grants name `<path><prefix>*`). */
export function runRoleNamePrefix(deploymentId: string): string {
  return `carrel-${deploymentId}-run-`;
}

/** The family of the enclave's template task definition (lib/constructs/enclave-aws.ts). */
export function enclaveRunTaskFamily(deploymentId: string): string {
  return `carrel-${deploymentId}-enclave-run`;
}

/** The run's task definition family: the template's family and the run id (as the state machine runs it). */
export function runTaskFamilyOf(templateFamily: string, runId: string): string {
  return `${templateFamily}-${runId}`;
}

/** Making or removing a run's own resources failed in a way a retry will not fix (permissions, quota, a bad name). */
export class RunResourcesError extends CarrelError {}

/** SDK failure → TransientError (retry may help) or RunResourcesError naming `what`. */
export function runResourcesFailure(error: unknown, what: string): Error {
  if (error instanceof CarrelError) return error;
  if (error instanceof LimitExceededException) {
    // IAM's role quota: more roles only once others are deleted. Leftover run roles show in `npm run admin -- resources`.
    return new RunResourcesError(`${what} failed: the account's IAM quota is reached (${awsErrorDetail(error)}); look for leftover run roles with npm run admin -- resources`, { cause: error });
  }
  // A concurrent change of the same role (a retried step overlapping its first attempt): settles on retry.
  if (error instanceof ConcurrentModificationException || error instanceof DeleteConflictException || isTransientAwsError(error)) {
    return new TransientError(`${what} failed for now: ${awsErrorDetail(error)}`, { cause: error });
  }
  return new RunResourcesError(`${what} failed: ${awsErrorDetail(error)}`, { cause: error });
}

export interface RunResourcesOptions {
  readonly deploymentId: string;
  readonly location: AwsLocation;
  /** The outputs bucket (name): the run may create objects under `runs/<analysisId>/<runId>/` only. */
  readonly outputsBucket: string;
  /** The enclave key the outputs are written with. */
  readonly enclaveKeyArn: string;
  /** The real dataset the run reads (`bucketArn` + key prefix; `kmsKeyArn` if it is encrypted with one). */
  readonly dataset: { readonly bucketArn: string; readonly prefix: string; readonly kmsKeyArn?: string };
  /** The template task definition's family; the build registers `<family>-<runId>`. */
  readonly taskFamily: string;
  readonly log: Log;
}

/** The deployment's partition, region and account, from one of its ARNs (the enclave key's). */
export function runLocationOf(arn: string): AwsLocation {
  const location = parseLocation(arn);
  if (!location) throw new RunResourcesError(`"${arn}" is not a regional ARN with an account`);
  return location;
}

export class AwsRunResources implements RunCredentials {
  private readonly roles: BoundedTaskRoles;
  private readonly cleaner: RunResourcesCleanUp;

  constructor(
    iam: IAMClient,
    ecs: ECSClient,
    private readonly options: RunResourcesOptions,
  ) {
    this.cleaner = new RunResourcesCleanUp(iam, ecs, options);
    const { partition, account } = options.location;
    const { deploymentId } = options;
    this.roles = new BoundedTaskRoles(iam, {
      path: runRolePath(deploymentId),
      boundaryArn: `arn:${partition}:iam::${account}:policy/carrel/${deploymentId}/${runRoleBoundaryName(deploymentId)}`,
      location: options.location,
      kind: 'run task role',
      failure: runResourcesFailure,
      log: options.log,
    });
  }

  roleArn(key: RunKey): string {
    return this.roles.roleArn(runRoleName(this.options.deploymentId, key.runId));
  }

  async prepare(run: Run): Promise<void> {
    const { deploymentId } = this.options;
    await this.roles.ensure({
      roleName: runRoleName(deploymentId, run.runId),
      description: `carrel ${deploymentId}: the enclave task of run ${run.runId} of ${run.analysisId}; writes only that run's outputs`.slice(0, 1000),
      tags: { 'carrel:deployment': deploymentId, 'carrel:analysis': run.analysisId, 'carrel:run': run.runId },
      ownerTags: ['carrel:deployment', 'carrel:analysis', 'carrel:run'],
      policyName: RUN_ROLE_POLICY,
      policy: this.runPolicy(run),
      policyPurpose: 'read the dataset and write its outputs',
    });
  }

  cleanUp(key: RunKey): Promise<readonly string[]> {
    return this.cleaner.cleanUp(key);
  }

  /** The run's one policy: what the shared run role allowed before, with outputs narrowed to this run's prefix. */
  private runPolicy(run: RunKey) {
    const { dataset, outputsBucket, enclaveKeyArn, location } = this.options;
    const statements: Record<string, unknown>[] = [
      { Sid: 'DatasetRead', Effect: 'Allow', Action: 's3:GetObject', Resource: `${dataset.bucketArn}/${dataset.prefix}*` },
      {
        Sid: 'DatasetList',
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: dataset.bucketArn,
        ...(dataset.prefix ? { Condition: { StringLike: { 's3:prefix': [`${dataset.prefix}*`] } } } : {}),
      },
    ];
    if (dataset.kmsKeyArn) statements.push({ Sid: 'DatasetDecrypt', Effect: 'Allow', Action: 'kms:Decrypt', Resource: dataset.kmsKeyArn });
    statements.push(
      { Sid: 'OutputsWrite', Effect: 'Allow', Action: 's3:PutObject', Resource: `arn:${location.partition}:s3:::${outputsBucket}/runs/${run.analysisId}/${run.runId}/*` },
      // Decrypt too: the CLI uploads large files in parts, and S3 decrypts the data key to complete them.
      { Sid: 'OutputsEncrypt', Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: enclaveKeyArn },
    );
    return { Version: '2012-10-17', Statement: statements };
  }
}

/**
 * Removes what a run had for itself: its role and its task definition revisions. Needs only the deployment and
 * the template family, so the admin CLI's sweep uses it as the clean-up step does.
 */
export class RunResourcesCleanUp {
  constructor(
    private readonly iam: IAMClient,
    private readonly ecs: ECSClient,
    private readonly options: Pick<RunResourcesOptions, 'deploymentId' | 'taskFamily' | 'log'>,
  ) {}

  async cleanUp(key: RunKey): Promise<readonly string[]> {
    const removed: string[] = [];
    const roleName = runRoleName(this.options.deploymentId, key.runId);
    if (await deleteTaskRole(this.iam, roleName, { kind: 'run task role', failure: runResourcesFailure, log: this.options.log })) removed.push(`role ${roleName}`);
    const family = runTaskFamilyOf(this.options.taskFamily, key.runId);
    const active = await this.revisions(family, 'ACTIVE');
    for (const arn of active) {
      try {
        await this.ecs.send(new DeregisterTaskDefinitionCommand({ taskDefinition: arn }));
      } catch (error) {
        throw runResourcesFailure(error, `Deregistering the run task definition ${arn}`);
      }
    }
    // Just-deregistered revisions may not be listed as INACTIVE yet: delete what either list named.
    const inactive = [...new Set([...active, ...(await this.revisions(family, 'INACTIVE'))])];
    for (let i = 0; i < inactive.length; i += DELETE_BATCH) {
      const batch = inactive.slice(i, i + DELETE_BATCH);
      let failures: Failure[] | undefined;
      try {
        ({ failures } = await this.ecs.send(new DeleteTaskDefinitionsCommand({ taskDefinitions: batch })));
      } catch (error) {
        throw runResourcesFailure(error, `Deleting the run task definitions of ${family}`);
      }
      if (failures?.length) {
        throw new RunResourcesError(`Deleting the run task definitions of ${family} failed for ${failures.map((f) => `${f.arn}: ${f.reason}${f.detail ? ` (${f.detail})` : ''}`).join('; ')}`);
      }
      removed.push(...batch.map((arn) => `task definition ${arn}`));
    }
    return removed;
  }

  /** The family's revisions in `status` (familyPrefix is a prefix: only this exact family counts). */
  private async revisions(family: string, status: TaskDefinitionStatus): Promise<string[]> {
    const exact = new RegExp(`:task-definition/${family.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+$`);
    const arns: string[] = [];
    let nextToken: string | undefined;
    do {
      let out;
      try {
        out = await this.ecs.send(new ListTaskDefinitionsCommand({ familyPrefix: family, status, nextToken }));
      } catch (error) {
        throw runResourcesFailure(error, `Listing the run task definitions of ${family}`);
      }
      arns.push(...(out.taskDefinitionArns ?? []).filter((arn) => exact.test(arn)));
      nextToken = out.nextToken;
    } while (nextToken);
    return arns;
  }
}
