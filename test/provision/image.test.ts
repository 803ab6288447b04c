/**
 * The image recipe is documented, not executed here (it needs an EC2 instance and the internet): these
 * checks keep it well-formed. bake.sh parses as bash, the Image Builder component embeds it byte for byte
 * with its parameters, and refuses what is not an SSH public key.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { BAKE_SCRIPT_URL, workspaceImageComponent } from '../../assets/image/component.js';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM/Jm8wfd0HNtKOk5OV8ILL1PYA2+hX6dGaJmnLOyRc+ carrel-provisioner';

describe('workspace image recipe', () => {
  it('bake.sh and provision.sh are valid bash', () => {
    // Act
    const results = [BAKE_SCRIPT_URL, new URL('../../assets/provision/provision.sh', import.meta.url)].map((url) => spawnSync('bash', ['-n', url.pathname], { encoding: 'utf8' }));

    // Assess
    for (const result of results) assert.equal(result.status, 0, result.stderr);
  });

  it('the component embeds bake.sh with the provisioner key and versions, and validates the result', () => {
    // Act
    const document = JSON.parse(workspaceImageComponent({ provisionerPublicKey: KEY, nodeVersion: '22.11.0' }));

    // Assess
    const [build, validate] = document.phases;
    const commands: string[] = build.steps[0].inputs.commands;
    const embedded = /^echo '([A-Za-z0-9+/=]+)' \| base64 -d > \/root\/carrel-bake\.sh$/.exec(commands[1]!)?.[1];
    assert.equal(Buffer.from(embedded!, 'base64').toString(), readFileSync(BAKE_SCRIPT_URL, 'utf8'));
    assert.equal(commands[2], `PROVISIONER_PUBLIC_KEY='${KEY}' NODE_VERSION=22.11.0 EFS_UTILS_VERSION=v2.1.0 INSTALL_R_KERNEL=false bash /root/carrel-bake.sh`);
    assert.equal(validate.name, 'validate');
    assert.equal(JSON.parse(workspaceImageComponent()).phases[0].steps[0].inputs.commands[2], 'NODE_VERSION=22.12.0 EFS_UTILS_VERSION=v2.1.0 INSTALL_R_KERNEL=false bash /root/carrel-bake.sh');
    assert.ok(validate.steps[0].inputs.commands.includes('mount.efs --version'));
  });

  it('refuses a provisioner key that is not one OpenSSH public key line', () => {
    // Act / Assess
    for (const key of ['', '-----BEGIN OPENSSH PRIVATE KEY-----', `${KEY}\n${KEY}`, "ssh-ed25519 AAAA it's"]) {
      assert.throws(() => workspaceImageComponent({ provisionerPublicKey: key }), /one OpenSSH public key line/);
    }
  });
});
