/**
 * CloudFormation custom resource `Custom::CarrelProvisionerKey`: generates the provisioner's SSH key pair at
 * deploy time, writes the private key into its Secrets Manager secret and returns only the public key (which
 * the launch template's cloud-init authorizes for `carrel-provisioner`). The private key never appears in a
 * template, a parameter or a log.
 *
 * Key: ECDSA P-256, private key as SEC1 PEM (`-----BEGIN EC PRIVATE KEY-----`, which node-ssh/ssh2 read),
 * public key in OpenSSH form (`ecdsa-sha2-nistp256 AAAA... carrel-provisioner`).
 *
 * Create and Update (a new `Generation` or a new secret) generate a new pair; Delete does nothing (the
 * secret goes with its own resource). The handler always answers CloudFormation, also on failure.
 */
import { generateKeyPairSync } from 'node:crypto';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { CloudFormationCustomResourceEvent, CloudFormationCustomResourceResponse } from 'aws-lambda';

export interface ProvisionerKeyPair {
  /** SEC1 PEM private key. */
  readonly privateKey: string;
  /** One authorized_keys line. */
  readonly publicKey: string;
}

/** A fresh ECDSA P-256 key pair in the formats ssh2 and OpenSSH use. */
export function generateProvisionerKeyPair(comment = 'carrel-provisioner'): ProvisionerKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  const blob = Buffer.concat([sshString('ecdsa-sha2-nistp256'), sshString('nistp256'), sshString(point)]);
  return {
    privateKey: privateKey.export({ type: 'sec1', format: 'pem' }).toString(),
    publicKey: `ecdsa-sha2-nistp256 ${blob.toString('base64')} ${comment}`,
  };
}

function sshString(value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value) : value;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

export interface ProvisionerKeyDeps {
  readonly secrets: Pick<SecretsManagerClient, 'send'>;
  readonly respond: (url: string, body: string) => Promise<void>;
  readonly generate: () => ProvisionerKeyPair;
}

let defaults: ProvisionerKeyDeps | undefined;
function defaultDeps(): ProvisionerKeyDeps {
  defaults ??= {
    secrets: new SecretsManagerClient({}),
    respond: async (url, body) => {
      const response = await fetch(url, { method: 'PUT', headers: { 'content-type': '' }, body });
      if (!response.ok) throw new Error(`CloudFormation response upload failed: HTTP ${response.status}`);
    },
    generate: () => generateProvisionerKeyPair(),
  };
  return defaults;
}

export async function handleProvisionerKey(event: CloudFormationCustomResourceEvent, deps: ProvisionerKeyDeps): Promise<CloudFormationCustomResourceResponse> {
  const secretArn = String(event.ResourceProperties.SecretArn ?? '');
  const generation = String(event.ResourceProperties.Generation ?? '1');
  const base = { StackId: event.StackId, RequestId: event.RequestId, LogicalResourceId: event.LogicalResourceId };
  let response: CloudFormationCustomResourceResponse;
  try {
    if (event.RequestType === 'Delete') {
      response = { ...base, Status: 'SUCCESS', PhysicalResourceId: event.PhysicalResourceId };
    } else {
      if (!secretArn) throw new Error('the SecretArn property is required');
      const pair = deps.generate();
      await deps.secrets.send(new PutSecretValueCommand({ SecretId: secretArn, SecretString: pair.privateKey }));
      response = {
        ...base,
        Status: 'SUCCESS',
        PhysicalResourceId: `${secretArn}#${generation}`,
        Data: { PublicKey: pair.publicKey },
      };
    }
  } catch (error) {
    response = {
      ...base,
      Status: 'FAILED',
      Reason: `provisioner key: ${(error as Error).message}`.slice(0, 1000),
      PhysicalResourceId: event.RequestType === 'Create' ? `${secretArn || 'none'}#failed` : event.PhysicalResourceId,
    };
  }
  await deps.respond(event.ResponseURL, JSON.stringify(response));
  return response;
}

export const handler = async (event: CloudFormationCustomResourceEvent): Promise<void> => {
  const response = await handleProvisionerKey(event, defaultDeps());
  // Never the key: only what CloudFormation was told (the public key is public).
  console.log(JSON.stringify({ requestType: event.RequestType, status: response.Status, reason: response.Reason }));
};
