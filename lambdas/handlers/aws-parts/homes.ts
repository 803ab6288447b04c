/** EFS homes (one access point per analysis and user; see aws-wiring.ts WorkspaceKit). */
import { EfsHomes } from '../../adapters/aws/efs-homes.js';
import { efsClient } from '../../adapters/aws/clients/efs.js';
import type { WorkspaceKit } from '../aws-wiring.js';

export function efsHomes(efs: typeof efsClient = efsClient): NonNullable<WorkspaceKit['homes']> {
  return (homes, { config, log }) =>
    new EfsHomes(efs(), { deploymentId: config.deploymentId, fileSystemId: homes.fileSystemId, uid: homes.uid, gid: homes.gid, log });
}
