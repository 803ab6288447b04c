/**
 * Lambda entry point: the provisioner (asynchronous invocation `{ analysisId, userId, generation }`, from
 * LambdaProvisioner). Runs in the VPC, next to the workspaces. See docs/contracts.md ("The provisioner").
 *
 * Wiring: the desk's adapters (awsApp: store, homes, hostnames, compute, KMS signer, config) plus the
 * provisioner's own settings (loadProvisionerConfig), Secrets Manager for its two secrets, EC2 for the
 * console output (and, for public workspaces, the private address), and node-ssh. provision.sh, gate.mjs
 * and template/ are read from PROVISION_ASSETS_DIR (default: this bundle's folder, where
 * `npx tsx assets/provision/stage.ts <dir>` puts them).
 */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context } from 'aws-lambda';
import { ec2Client, secretsManagerClient } from '../../adapters/aws/clients.js';
import { ConsoleHostKeys, privateAddressOf } from '../../adapters/aws/console-host-keys.js';
import { SecretsManagerProvisionSecrets } from '../../adapters/aws/provisioner-secrets.js';
import { SshProvisioning } from '../../adapters/ssh-provisioning.js';
import { awsApp } from '../aws-wiring.js';
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

const { deps, logger } = awsApp();
const provisioner = loadProvisionerConfig();
const ec2 = ec2Client();
const assetsDir = provisioner.assetsDir ?? dirname(fileURLToPath(import.meta.url));
const privateAddress = privateAddressOf(ec2);
const provision = makeProvisionHandler({
  ...deps,
  hostKeys: new ConsoleHostKeys(ec2),
  remote: new SshProvisioning(),
  secrets: new SecretsManagerProvisionSecrets(secretsManagerClient(), provisioner.sshKeySecretArn, provisioner.certificateSecretArn),
  assets: once<ProvisionAssets>(() => loadProvisionAssets(assetsDir)),
  settings: provisioner.settings,
  ...(provisioner.workspaceAddress === 'public' ? { sshHostOf: (ws) => privateAddress(ws.instanceId!) } : {}),
});

export const handler = (event: unknown, context?: Context) => {
  if (context) logger.addContext(context);
  return provision(event, context);
};
