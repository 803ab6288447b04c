/**
 * Stand-ins for the parts a deployment does not have yet (EC2/Fargate compute, EFS homes, Route 53 names
 * arrive with issue 4). Every call that would create or change something throws, so an open fails
 * visibly with the reason; listings return nothing, which is true: these adapters never created anything.
 */
import type { ComputePort, HomeRef, HomesPort, HostnamesPort, InstanceView, LaunchRequest, Workspace, WorkspaceKey } from '../core/index.js';

export const NOT_CONFIGURED = 'compute is not configured for this deployment';

export class NotConfiguredError extends Error {
  constructor(part: string) {
    super(`${NOT_CONFIGURED} (${part})`);
    this.name = 'NotConfiguredError';
  }
}

export class UnconfiguredCompute implements ComputePort {
  async launch(_request: LaunchRequest): Promise<{ readonly instanceId: string }> {
    throw new NotConfiguredError('no EC2 or Fargate adapter is wired');
  }
  async start(_instanceId: string, _workspace: Workspace): Promise<void> {
    throw new NotConfiguredError('no EC2 or Fargate adapter is wired');
  }
  async stop(_instanceId: string): Promise<void> {
    throw new NotConfiguredError('no EC2 or Fargate adapter is wired');
  }
  async terminate(_instanceId: string): Promise<void> {
    throw new NotConfiguredError('no EC2 or Fargate adapter is wired');
  }
  async listTagged(): Promise<readonly InstanceView[]> {
    return [];
  }
}

export class UnconfiguredHomes implements HomesPort {
  async ensure(_key: WorkspaceKey): Promise<HomeRef> {
    throw new NotConfiguredError('no EFS homes adapter is wired');
  }
}

export class UnconfiguredHostnames implements HostnamesPort {
  constructor(readonly deskDomain: string) {}
  async assign(_hostname: string, _address: string): Promise<void> {
    throw new NotConfiguredError('no Route 53 hostnames adapter is wired');
  }
  async release(_hostname: string): Promise<void> {
    throw new NotConfiguredError('no Route 53 hostnames adapter is wired');
  }
  async list(): Promise<readonly string[]> {
    return [];
  }
}
