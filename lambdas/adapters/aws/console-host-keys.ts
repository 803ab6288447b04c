/**
 * The SSH host keys an EC2 workspace reported at boot, read from its console output (EC2
 * GetConsoleOutput): cloud-init, and the image's `carrel-host-keys` unit on every boot, print
 *
 *   -----BEGIN SSH HOST KEY FINGERPRINTS-----
 *   256 SHA256:... root@ip-10-0-1-23 (ECDSA)
 *   256 SHA256:... root@ip-10-0-1-23 (ED25519)
 *   3072 SHA256:... root@ip-10-0-1-23 (RSA)
 *   -----END SSH HOST KEY FINGERPRINTS-----
 *
 * (each line possibly prefixed by a timestamp, `cloud-init[123]:` or `ec2:`). Only the host itself and
 * its root user write to its console, so these are the fingerprints to expect when connecting; the
 * provisioner refuses any other key. The console output appears shortly after boot: callers retry while
 * the answer is empty.
 */
import { DescribeInstancesCommand, GetConsoleOutputCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { rethrowAwsError } from './clients/errors.js';

export const FINGERPRINTS_BEGIN = '-----BEGIN SSH HOST KEY FINGERPRINTS-----';
export const FINGERPRINTS_END = '-----END SSH HOST KEY FINGERPRINTS-----';

/** Where the provisioner learns which host keys to expect. */
export interface HostKeySource {
  /** `SHA256:<base64>` fingerprints of the instance's host keys; empty while not (yet) reported. */
  fingerprints(instanceId: string): Promise<readonly string[]>;
}

const SHA256_FINGERPRINT = /\bSHA256:([A-Za-z0-9+/]{43})(?![A-Za-z0-9+/])/;

/**
 * The SHA256 fingerprints of the last complete fingerprint block in a console log (the latest boot),
 * in order, without duplicates. MD5-style fingerprints (old images) are ignored; a block that is not
 * closed (output cut short) does not count.
 */
export function parseHostKeyFingerprints(consoleText: string): string[] {
  const lines = consoleText.split(/\r?\n|\r/);
  let current: string[] | undefined;
  let last: string[] | undefined;
  for (const line of lines) {
    if (line.includes(FINGERPRINTS_BEGIN)) {
      current = [];
    } else if (line.includes(FINGERPRINTS_END)) {
      if (current) last = current;
      current = undefined;
    } else if (current) {
      const match = SHA256_FINGERPRINT.exec(line);
      if (match && !current.includes(`SHA256:${match[1]}`)) current.push(`SHA256:${match[1]}`);
    }
  }
  return last ?? [];
}

/** GetConsoleOutput for one instance: returns the parsed fingerprints (empty while none are printed). */
export class ConsoleHostKeys implements HostKeySource {
  constructor(private readonly ec2: EC2Client) {}

  async fingerprints(instanceId: string): Promise<readonly string[]> {
    let output: string | undefined;
    try {
      output = (await this.send(instanceId, true)).Output;
    } catch (error) {
      // A just-launched instance may not be visible to every EC2 endpoint yet: nothing to show so far.
      if (errorName(error) === 'InvalidInstanceID.NotFound') return [];
      // `Latest` (the live buffer rather than the last posted snapshot) exists on Nitro instances only.
      if (errorName(error) !== 'UnsupportedOperation') rethrowAwsError(error, 'Reading the workspace console');
      try {
        output = (await this.send(instanceId, false)).Output;
      } catch (again) {
        rethrowAwsError(again, 'Reading the workspace console');
      }
    }
    if (!output) return [];
    return parseHostKeyFingerprints(Buffer.from(output, 'base64').toString('utf8'));
  }

  private send(instanceId: string, latest: boolean) {
    return this.ec2.send(new GetConsoleOutputCommand({ InstanceId: instanceId, ...(latest ? { Latest: true } : {}) }));
  }
}

function errorName(error: unknown): string | undefined {
  return error && typeof error === 'object' ? (error as { name?: string }).name : undefined;
}

/** What the provisioner needs to know about an instance besides its host keys. */
export interface WorkspaceInstanceFacts {
  readonly privateIpAddress?: string;
  readonly tags: Readonly<Record<string, string>>;
}

/** The `carrel:home` tag: the home (EFS access point) a workspace instance was launched with, if the launch tagged it. */
export { HOME_TAG } from '../../core/lifecycle.js';
import { HOME_TAG } from '../../core/lifecycle.js';

/**
 * One DescribeInstances: the private address (a workspace published on its public address is still
 * reached over SSH on its private one, inside the VPC) and the tags.
 */
export async function describeWorkspaceInstance(ec2: EC2Client, instanceId: string): Promise<WorkspaceInstanceFacts> {
  let instance;
  try {
    instance = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }))).Reservations?.[0]?.Instances?.[0];
  } catch (error) {
    rethrowAwsError(error, 'Describing the workspace instance');
  }
  if (!instance) throw new Error(`the instance ${instanceId} was not found`);
  const tags = Object.fromEntries((instance.Tags ?? []).filter((t) => t.Key && t.Value !== undefined).map((t) => [t.Key!, t.Value!]));
  return { privateIpAddress: instance.PrivateIpAddress, tags };
}
