/**
 * HomesPort on EFS: one access point per (analysis, researcher), created once and kept forever. The
 * access point pins every client to the researcher's directory `/homes/<analysisId>/<userId>` as the
 * homes' POSIX owner; EFS creates that directory (mode 0700) the first time a client mounts it.
 *
 * Creation is idempotent by construction: the ClientToken is a digest of (deployment, analysis, user),
 * so a second CreateAccessPoint for the same home answers AccessPointAlreadyExists with the access point
 * that exists, however many Lambdas ask at once.
 */
import { createHash } from 'node:crypto';
import {
  AccessPointAlreadyExists,
  AccessPointLimitExceeded,
  CreateAccessPointCommand,
  FileSystemNotFound,
  IncorrectFileSystemLifeCycleState,
  type EFSClient,
} from '@aws-sdk/client-efs';
import { CarrelError, TransientError, ValidationError } from '../../core/errors.js';
import { silentLog, type HomeRef, type HomesPort, type Log } from '../../core/ports.js';
import type { WorkspaceKey } from '../../core/workspace.js';
import { isTransientAwsError } from './clients/errors.js';

/** A home could not be created, and retrying will not help (limits, configuration, permissions). */
export class HomeError extends CarrelError {}

export interface EfsHomesOptions {
  /** Value of the `carrel:deployment` tag. */
  readonly deploymentId: string;
  /** The homes file system. */
  readonly fileSystemId: string;
  /** POSIX owner of every home (the researcher's account on workspaces). */
  readonly uid: number;
  readonly gid: number;
  readonly log?: Log;
}

/** One path segment: starts with a letter or digit, no `/`, no `..`, nothing a shell or EFS would read specially. */
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._@+=-]{0,63}$/;
/** EFS limits an access point's root directory path to 100 characters. */
const MAX_PATH = 100;

/** `/homes/<analysisId>/<userId>` after checking both ids are safe single path segments. */
export function homePath(key: WorkspaceKey): string {
  const issues: string[] = [];
  for (const [field, value] of [
    ['analysisId', key.analysisId],
    ['userId', key.userId],
  ] as const) {
    if (!SEGMENT.test(value) || value.includes('..')) issues.push(`${field} "${value}" cannot name a home directory`);
  }
  if (issues.length) throw new ValidationError(`Unsafe id for a home directory: ${issues.join('; ')}`, issues);
  const path = `/homes/${key.analysisId}/${key.userId}`;
  if (path.length > MAX_PATH) throw new ValidationError(`The home path ${path} is longer than EFS allows (${MAX_PATH} characters)`);
  return path;
}

/** CreateAccessPoint's ClientToken for a home: the SHA-256 hex digest (64 characters, the most EFS accepts). */
export function homeClientToken(deploymentId: string, key: WorkspaceKey): string {
  return createHash('sha256').update(`${deploymentId}/${key.analysisId}/${key.userId}`).digest('hex').slice(0, 64);
}

export class EfsHomes implements HomesPort {
  /** Homes this container has seen: access points are kept forever, so one answer holds. */
  private readonly known = new Map<string, string>();
  private readonly log: Log;

  constructor(
    private readonly efs: EFSClient,
    private readonly options: EfsHomesOptions,
  ) {
    this.log = options.log ?? silentLog;
  }

  async ensure(key: WorkspaceKey): Promise<HomeRef> {
    const path = homePath(key);
    const token = homeClientToken(this.options.deploymentId, key);
    const cached = this.known.get(token);
    if (cached) return { homeId: cached, created: false };
    const home = await this.create(key, path, token);
    this.known.set(token, home.homeId);
    return home;
  }

  private async create(key: WorkspaceKey, path: string, token: string): Promise<HomeRef> {
    const { deploymentId, fileSystemId, uid, gid } = this.options;
    try {
      const out = await this.efs.send(
        new CreateAccessPointCommand({
          ClientToken: token,
          FileSystemId: fileSystemId,
          PosixUser: { Uid: uid, Gid: gid },
          RootDirectory: { Path: path, CreationInfo: { OwnerUid: uid, OwnerGid: gid, Permissions: '0700' } },
          Tags: [
            { Key: 'carrel:deployment', Value: deploymentId },
            { Key: 'carrel:analysis', Value: key.analysisId },
            { Key: 'carrel:user', Value: key.userId },
            { Key: 'Name', Value: `carrel-${deploymentId}-${key.analysisId}-${key.userId}` },
          ],
        }),
      );
      if (!out.AccessPointId) throw new HomeError('EFS created an access point but returned no id');
      this.log.info('home created', { analysisId: key.analysisId, userId: key.userId, accessPointId: out.AccessPointId, path });
      return { homeId: out.AccessPointId, created: true };
    } catch (error) {
      if (error instanceof AccessPointAlreadyExists && error.AccessPointId) return { homeId: error.AccessPointId, created: false };
      throw this.failure(error);
    }
  }

  private failure(error: unknown): Error {
    const detail = error instanceof Error ? error.message : String(error);
    const { fileSystemId } = this.options;
    if (error instanceof CarrelError) return error;
    if (error instanceof AccessPointLimitExceeded) {
      return new HomeError(
        `No new home can be created: the homes file system ${fileSystemId} has reached its limit of access points (${detail})`,
        { cause: error },
      );
    }
    if (error instanceof FileSystemNotFound) return new HomeError(`The homes file system ${fileSystemId} does not exist`, { cause: error });
    if (error instanceof IncorrectFileSystemLifeCycleState) {
      return new TransientError(`The homes file system ${fileSystemId} is not available yet (${detail})`, { cause: error });
    }
    if (isTransientAwsError(error)) return new TransientError(`Creating the home failed for now: ${detail}`, { cause: error });
    const name = error instanceof Error && error.name !== 'Error' ? `${error.name}: ` : '';
    return new HomeError(`Creating the home failed: ${name}${detail}`.slice(0, 400), { cause: error });
  }
}
