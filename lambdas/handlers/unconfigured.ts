/**
 * Stand-ins for the parts a deployment has not configured: compute without COMPUTE_KIND, homes without
 * EFS_FILE_SYSTEM_ID, hostnames without HOSTED_ZONE_ID (see aws-wiring.ts). Every call that would create
 * or change something throws, so an open fails visibly with the reason (naming the setting); listings
 * return nothing, which is true: these adapters never created anything.
 */
import type { ComputePort, HomeRef, HomesPort, HostnamesPort, InstanceView, LaunchRequest, ProvisionerPort, Workspace, WorkspaceKey } from '../core/index.js';

export const NOT_CONFIGURED = 'compute is not configured for this deployment';

const NO_COMPUTE = 'COMPUTE_KIND is not set';

export class NotConfiguredError extends Error {
  constructor(part: string) {
    super(`${NOT_CONFIGURED} (${part})`);
    this.name = 'NotConfiguredError';
  }
}

export class UnconfiguredCompute implements ComputePort {
  async launch(_request: LaunchRequest): Promise<{ readonly instanceId: string }> {
    throw new NotConfiguredError(NO_COMPUTE);
  }
  async start(_instanceId: string, _workspace: Workspace): Promise<void> {
    throw new NotConfiguredError(NO_COMPUTE);
  }
  async stop(_instanceId: string): Promise<void> {
    throw new NotConfiguredError(NO_COMPUTE);
  }
  async terminate(_instanceId: string): Promise<void> {
    throw new NotConfiguredError(NO_COMPUTE);
  }
  async listTagged(): Promise<readonly InstanceView[]> {
    return [];
  }
}

export class UnconfiguredHomes implements HomesPort {
  async ensure(_key: WorkspaceKey): Promise<HomeRef> {
    throw new NotConfiguredError('EFS_FILE_SYSTEM_ID is not set');
  }
}

export class UnconfiguredHostnames implements HostnamesPort {
  constructor(readonly deskDomain: string) {}
  async assign(_hostname: string, _address: string): Promise<void> {
    throw new NotConfiguredError('HOSTED_ZONE_ID is not set');
  }
  async release(_hostname: string): Promise<void> {
    throw new NotConfiguredError('HOSTED_ZONE_ID is not set');
  }
  async list(): Promise<readonly string[]> {
    return [];
  }
}

/**
 * A part the deployment configures but this Lambda function was not built with (its entry point's
 * WorkspaceKit leaves it out, so its bundle lacks that SDK client): reaching it is a wiring bug.
 */
export class NotWiredError extends Error {
  constructor(part: string) {
    super(`${part} is not wired into this function (add it to the WorkspaceKit of its entry point in lambdas/handlers/entry/)`);
    this.name = 'NotWiredError';
  }
}

export class NotWiredCompute implements ComputePort {
  async launch(): Promise<{ readonly instanceId: string }> {
    throw new NotWiredError('compute');
  }
  async start(): Promise<void> {
    throw new NotWiredError('compute');
  }
  async stop(): Promise<void> {
    throw new NotWiredError('compute');
  }
  async terminate(): Promise<void> {
    throw new NotWiredError('compute');
  }
  async listTagged(): Promise<readonly InstanceView[]> {
    throw new NotWiredError('compute');
  }
}

export class NotWiredHomes implements HomesPort {
  async ensure(): Promise<HomeRef> {
    throw new NotWiredError('homes');
  }
}

export class NotWiredHostnames implements HostnamesPort {
  constructor(readonly deskDomain: string) {}
  async assign(): Promise<void> {
    throw new NotWiredError('hostnames');
  }
  async release(): Promise<void> {
    throw new NotWiredError('hostnames');
  }
  async list(): Promise<readonly string[]> {
    throw new NotWiredError('hostnames');
  }
}

export class NotWiredProvisioner implements ProvisionerPort {
  async provision(): Promise<void> {
    throw new NotWiredError('provisioner');
  }
}
