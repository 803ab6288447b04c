/**
 * Lambda entry point: the provisioner (asynchronous invocation `{ analysisId, userId, generation }`, from
 * LambdaProvisioner). Runs in the VPC, next to the workspaces. See docs/contracts.md ("The provisioner").
 *
 * Wiring: the desk's adapters (awsApp: store, EFS homes, Route 53 hostnames, EC2 compute, KMS signer, config) plus the
 * provisioner's own settings (loadProvisionerConfig), Secrets Manager for its two secrets, EC2 for the
 * console output (and, for public workspaces, the private address), and node-ssh. provision.sh, gate.mjs
 * and template/ are read from PROVISION_ASSETS_DIR (default: this bundle's folder, where
 * `npx tsx assets/provision/stage.ts <dir>` puts them).
 */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context } from 'aws-lambda';
import { ec2Client } from '../../adapters/aws/clients/ec2.js';
import { secretsManagerClient } from '../../adapters/aws/clients/secrets-manager.js';
import { ConsoleHostKeys, describeWorkspaceInstance, HOME_TAG, type WorkspaceInstanceFacts } from '../../adapters/aws/console-host-keys.js';
import { SecretsManagerProvisionSecrets } from '../../adapters/aws/provisioner-secrets.js';
import { SshProvisioning } from '../../adapters/ssh-provisioning.js';
import { awsApp } from '../aws-wiring.js';
import { ec2Compute } from '../aws-parts/ec2-compute.js';
import { efsHomes } from '../aws-parts/homes.js';
import { route53Hostnames } from '../aws-parts/hostnames.js';
import { loadProvisionAssets, loadProvisionerConfig, makeProvisionHandler, type ProvisionAssets } from '../provision.js';

function once<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => {
    loaded ??= load().catch((error: unknown) => {
      loaded = undefined;
      throw error;
    });
    return loaded;
  };
}

// EC2 only (the provisioner exists for EC2 compute); reporting may fail a workspace, which cleans up.
const { deps, logger } = awsApp({ compute: ec2Compute(), homes: efsHomes(), hostnames: route53Hostnames() });
const provisioner = loadProvisionerConfig();
const ec2 = ec2Client();
const assetsDir = provisioner.assetsDir ?? dirname(fileURLToPath(import.meta.url));

/** One DescribeInstances per provisioning run (the address and the home both come from it). */
let described: { readonly instanceId: string; readonly at: number; readonly facts: Promise<WorkspaceInstanceFacts> } | undefined;
function instanceFacts(instanceId: string): Promise<WorkspaceInstanceFacts> {
  if (!described || described.instanceId !== instanceId || Date.now() - described.at > 60_000) {
    described = { instanceId, at: Date.now(), facts: describeWorkspaceInstance(ec2, instanceId) };
    described.facts.catch(() => (described = undefined));
  }
  return described.facts;
}
const provision = makeProvisionHandler({
  ...deps,
  hostKeys: new ConsoleHostKeys(ec2),
  remote: new SshProvisioning(),
  secrets: new SecretsManagerProvisionSecrets(secretsManagerClient(), provisioner.sshKeySecretArn, provisioner.certificateSecretArn),
  assets: once<ProvisionAssets>(() => loadProvisionAssets(assetsDir)),
  settings: provisioner.settings,
  // The launch tags the instance with its home's access point when it can; otherwise ask EFS (idempotent).
  homeOf: async (ws) => (await instanceFacts(ws.instanceId!)).tags[HOME_TAG] ?? (await deps.homes.ensure(ws)).homeId,
  ...(provisioner.workspaceAddress === 'public'
    ? {
        sshHostOf: async (ws) => {
          const ip = (await instanceFacts(ws.instanceId!)).privateIpAddress;
          if (!ip) throw new Error(`the instance ${ws.instanceId} has no private address`);
          return ip;
        },
      }
    : {}),
});

export const handler = (event: unknown, context?: Context) => {
  if (context) logger.addContext(context);
  return provision(event, context);
};
