/**
 * The EC2 Image Builder component that bakes the workspace image: bake.sh (beside this file) embedded in
 * the component document, with its parameters. The CDK stack that builds the image pipeline passes the
 * result as `imagebuilder.CfnComponent({ data, platform: 'Linux', ... })` on a Debian 12 parent image.
 * The document is JSON, which is YAML too (what Image Builder reads).
 *
 *   npx tsx assets/image/component.ts ['ssh-ed25519 AAAA... carrel-provisioner']   # prints the document
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface WorkspaceImageOptions {
  /**
   * The provisioner's OpenSSH public key line, to bake in. @default - none: the launch template's cloud-init
   * authorizes the deploy-time key (lib/custom-resources/provisioner-key.ts), so a key rotation needs no new image
   */
  readonly provisionerPublicKey?: string;
  /** Node.js for the gate. @default '22.12.0' */
  readonly nodeVersion?: string;
  /** aws/efs-utils release tag to build. @default 'v2.1.0' */
  readonly efsUtilsVersion?: string;
  /** Also install R and its Jupyter kernel. @default false */
  readonly installRKernel?: boolean;
}

export const BAKE_SCRIPT_URL = new URL('./bake.sh', import.meta.url);

const PUBLIC_KEY = /^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/=]+( [^\u0000-\u001f']*)?$/;

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The component document (Image Builder schema 1.0): build runs bake.sh, validate checks the result. */
export function workspaceImageComponent(options: WorkspaceImageOptions = {}): string {
  const key = options.provisionerPublicKey?.trim() ?? '';
  if (options.provisionerPublicKey !== undefined && !PUBLIC_KEY.test(key)) throw new Error('provisionerPublicKey must be one OpenSSH public key line (ssh-ed25519 AAAA... comment)');
  const nodeVersion = options.nodeVersion ?? '22.12.0';
  const efsUtilsVersion = options.efsUtilsVersion ?? 'v2.1.0';
  if (!/^\d+\.\d+\.\d+$/.test(nodeVersion)) throw new Error('nodeVersion must look like 22.12.0');
  if (!/^v?\d+\.\d+\.\d+$/.test(efsUtilsVersion)) throw new Error('efsUtilsVersion must be a release tag like v2.1.0');
  const script = Buffer.from(readFileSync(BAKE_SCRIPT_URL)).toString('base64');
  const env = [
    ...(key ? [`PROVISIONER_PUBLIC_KEY=${shellQuote(key)}`] : []),
    `NODE_VERSION=${nodeVersion}`,
    `EFS_UTILS_VERSION=${efsUtilsVersion}`,
    `INSTALL_R_KERNEL=${options.installRKernel ? 'true' : 'false'}`,
  ].join(' ');
  const document = {
    name: 'carrel-workspace',
    description: 'carrel workspace image: Jupyter, amazon-efs-utils, Node.js for the gate, the carrel-provisioner account, host key fingerprints on the console',
    schemaVersion: 1.0,
    phases: [
      {
        name: 'build',
        steps: [
          {
            name: 'Bake',
            action: 'ExecuteBash',
            timeoutSeconds: 3600,
            inputs: {
              commands: [
                'set -euo pipefail',
                `echo '${script}' | base64 -d > /root/carrel-bake.sh`,
                `${env} bash /root/carrel-bake.sh`,
                'rm -f /root/carrel-bake.sh',
              ],
            },
          },
        ],
      },
      {
        name: 'validate',
        steps: [
          {
            name: 'Check',
            action: 'ExecuteBash',
            inputs: {
              commands: [
                'set -euo pipefail',
                '/usr/local/bin/node --version',
                'mount.efs --version',
                'jupyter-notebook --version',
                'git --version && curl --version && setpriv --version && iptables --version',
                'sshd -t',
                'visudo -c -q',
                'test "$(getent passwd carrel-provisioner | cut -d: -f6)" = /home/carrel-provisioner',
                'if getent passwd 1000; then echo "uid 1000 must be free for the researcher" >&2; exit 1; fi',
                'systemctl is-enabled carrel-host-keys.service',
                'systemctl is-enabled carrel-prewarm.service',
              ],
            },
          },
        ],
      },
    ],
  };
  // Image Builder wants `schemaVersion: 1.0`; JSON.stringify would write 1
  return JSON.stringify(document, null, 2).replace('"schemaVersion": 1,', '"schemaVersion": 1.0,');
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const key = process.argv[2];
  process.stdout.write(`${workspaceImageComponent(key ? { provisionerPublicKey: key } : {})}\n`);
}
