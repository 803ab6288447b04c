#!/usr/bin/env bash
# carrel workspace image: bakes a Debian 12 (bookworm) arm64 or amd64 AMI into the image EC2 workspaces
# launch from. Run once, as root, on a fresh instance of the base image (EC2 Image Builder runs it through
# the component in component.ts; Packer or a plain instance work too):
#
#   ./bake.sh        # the provisioner's key then comes from the launch template's cloud-init user data
#   PROVISIONER_PUBLIC_KEY='ecdsa-sha2-nistp256 AAAA... carrel-provisioner' ./bake.sh   # or bake it in
#
# What it installs (and nothing at first boot needs the internet for it):
#   - Jupyter Notebook and the Python kernel from Debian (the same tool the local runtime runs), git, curl,
#     iptables (provision.sh keeps every uid but root's and the gate's from the instance metadata service);
#   - amazon-efs-utils (mount -t efs with TLS and IAM), built from a pinned release of aws/efs-utils;
#   - Node.js (official tarball, SHA-256 checked) for the gate bundle, in /usr/local;
#   - the carrel-provisioner account: SSH with the provisioner's key only (no pty, no forwarding), allowed
#     to run exactly /home/carrel-provisioner/incoming/provision.sh as root; its authorized_keys is a
#     placeholder that cloud-init user data fills with the deploy-time key (or PROVISIONER_PUBLIC_KEY);
#   - cloud-init settings: no default user (uid 1000 belongs to the researcher), fresh host keys per
#     instance, and their fingerprints on the serial console; plus carrel-host-keys.service, which prints
#     them again on every boot (cloud-init prints them only on an instance's first boot), so the
#     provisioner can verify the host key of a resumed instance too;
#   - carrel-prewarm.service: reads the tool's files at idle priority after boot (EBS blocks of a volume
#     fresh from the image load lazily), so a warm-pool spare starts its tool as fast as a resumed instance;
#   - sshd hardened: keys only, no root login.
#
# Not here on purpose: the gate, its certificate, the researcher's account and home. The provisioner
# installs those over SSH at every start (assets/provision/provision.sh), so a new gate needs no new image.
set -Eeuo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

PROVISIONER_PUBLIC_KEY=${PROVISIONER_PUBLIC_KEY:-}
NODE_VERSION=${NODE_VERSION:-22.12.0}
EFS_UTILS_VERSION=${EFS_UTILS_VERSION:-v2.1.0}
INSTALL_R_KERNEL=${INSTALL_R_KERNEL:-false}

[[ $(id -u) -eq 0 ]] || { echo "bake.sh: run as root" >&2; exit 1; }
[[ -z $PROVISIONER_PUBLIC_KEY || $PROVISIONER_PUBLIC_KEY =~ ^(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ssh-rsa)\ [A-Za-z0-9+/=]+(\ [^[:cntrl:]]*)?$ ]] \
  || { echo "bake.sh: PROVISIONER_PUBLIC_KEY is not one OpenSSH public key line" >&2; exit 1; }
[[ $NODE_VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "bake.sh: NODE_VERSION must look like 22.12.0" >&2; exit 1; }
(( ${NODE_VERSION%%.*} >= 20 )) || { echo "bake.sh: the gate needs Node.js 20 or newer" >&2; exit 1; }

case "$(dpkg --print-architecture)" in
  arm64) node_arch=arm64 ;;
  amd64) node_arch=x64 ;;
  *) echo "bake.sh: unsupported architecture $(dpkg --print-architecture)" >&2; exit 1 ;;
esac

step() { printf '\n==> %s\n' "$*"; }

step "Debian packages"
apt-get update
apt-get -y upgrade
apt-get -y install --no-install-recommends \
  jupyter-notebook python3-ipykernel python3-pip \
  git curl ca-certificates openssl sudo openssh-server nfs-common util-linux xz-utils iptables
if [[ $INSTALL_R_KERNEL == true ]]; then
  apt-get -y install --no-install-recommends r-base-core r-cran-irkernel
fi

step "amazon-efs-utils $EFS_UTILS_VERSION"
build_deps=(binutils build-essential pkg-config libssl-dev gettext cmake golang perl)
apt-get -y install --no-install-recommends "${build_deps[@]}"
build=$(mktemp -d)
# efs-utils 2.x builds efs-proxy with Rust; Debian 12's rustc is too old, so a toolchain just for this build
export RUSTUP_HOME=$build/rustup CARGO_HOME=$build/cargo
curl --proto '=https' --tlsv1.2 -fsSL https://sh.rustup.rs | sh -s -- -y --profile minimal --no-modify-path
export PATH=$CARGO_HOME/bin:$PATH
git clone --depth 1 --branch "$EFS_UTILS_VERSION" https://github.com/aws/efs-utils "$build/efs-utils"
(cd "$build/efs-utils" && ./build-deb.sh)
apt-get -y install "$build"/efs-utils/build/amazon-efs-utils*.deb
mount.efs --version
rm -rf "$build"
unset RUSTUP_HOME CARGO_HOME
apt-get -y purge "${build_deps[@]}" && apt-get -y autoremove --purge

step "Node.js $NODE_VERSION (for the gate)"
tmp=$(mktemp -d)
tarball=node-v$NODE_VERSION-linux-$node_arch.tar.xz
curl -fsSL -o "$tmp/$tarball" "https://nodejs.org/dist/v$NODE_VERSION/$tarball"
curl -fsSL -o "$tmp/SHASUMS256.txt" "https://nodejs.org/dist/v$NODE_VERSION/SHASUMS256.txt"
(cd "$tmp" && grep " $tarball\$" SHASUMS256.txt | sha256sum -c -)
tar -xJf "$tmp/$tarball" -C /usr/local --strip-components=1 --no-same-owner \
  "node-v$NODE_VERSION-linux-$node_arch/bin/node" "node-v$NODE_VERSION-linux-$node_arch/LICENSE"
rm -rf "$tmp"
/usr/local/bin/node --version

step "the carrel-provisioner account"
if ! getent passwd carrel-provisioner >/dev/null; then
  useradd --system --user-group --create-home --home-dir /home/carrel-provisioner --shell /bin/bash \
    --comment "carrel provisioner (SSH from the provisioner Lambda only)" carrel-provisioner
fi
usermod -p '*' carrel-provisioner # no password, but not locked (sshd refuses locked accounts without PAM)
chmod 700 /home/carrel-provisioner
install -d -m 700 -o carrel-provisioner -g carrel-provisioner /home/carrel-provisioner/.ssh
# The authorized key: baked here when given, else a placeholder that the launch template's cloud-init
# fills (users: - name: carrel-provisioner, ssh_authorized_keys: [<the deploy-time public key>]).
{
  echo "# carrel-provisioner: the provisioner Lambda's public key (PROVISIONER_PUBLIC_KEY at bake, or cloud-init user data)"
  if [[ -n $PROVISIONER_PUBLIC_KEY ]]; then printf 'restrict %s\n' "$PROVISIONER_PUBLIC_KEY"; fi
} >/home/carrel-provisioner/.ssh/authorized_keys
chown carrel-provisioner:carrel-provisioner /home/carrel-provisioner/.ssh/authorized_keys
chmod 600 /home/carrel-provisioner/.ssh/authorized_keys
cat >/etc/sudoers.d/carrel-provisioner <<'SUDOERS'
# carrel: the provisioner may run the provisioning script it uploads, as root, and nothing else.
Defaults:carrel-provisioner !requiretty
carrel-provisioner ALL=(root) NOPASSWD: /home/carrel-provisioner/incoming/provision.sh
SUDOERS
chmod 440 /etc/sudoers.d/carrel-provisioner
visudo -c -q

step "sshd: keys only, no root, only the provisioner (no pty, no forwarding)"
cat >/etc/ssh/sshd_config.d/60-carrel.conf <<'SSHD'
# carrel workspace image
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
X11Forwarding no
AllowUsers carrel-provisioner
Match User carrel-provisioner
    AllowTcpForwarding no
    AllowAgentForwarding no
    AllowStreamLocalForwarding no
    PermitTunnel no
    PermitTTY no
    PermitUserRC no
SSHD
sshd -t

step "cloud-init: no default user, fresh host keys per instance, fingerprints on the console"
cat >/etc/cloud/cloud.cfg.d/90-carrel.cfg <<'EOF'
#cloud-config
# uid 1000 is the researcher's (the EFS access point's POSIX user): no default admin user. User data may
# list `users:` (it replaces this list); should it name `- default`, the default user is the existing
# carrel-provisioner system account, so no account ever takes uid 1000.
users: []
system_info:
  default_user:
    name: carrel-provisioner
    system: true
    homedir: /home/carrel-provisioner
    shell: /bin/bash
    lock_passwd: true
    gecos: carrel provisioner
disable_root: true
ssh_pwauth: false
ssh_deletekeys: true
ssh_genkeytypes: [ed25519, ecdsa, rsa]
no_ssh_fingerprints: false
ssh:
  emit_keys_to_console: true
EOF
install -m 755 /dev/stdin /usr/local/sbin/carrel-host-keys <<'EOF'
#!/bin/sh
# Prints this host's SSH host key fingerprints on the console in cloud-init's format, on every boot.
set -eu
echo "-----BEGIN SSH HOST KEY FINGERPRINTS-----"
for key in /etc/ssh/ssh_host_*_key.pub; do
  [ -f "$key" ] && ssh-keygen -l -E sha256 -f "$key"
done
echo "-----END SSH HOST KEY FINGERPRINTS-----"
EOF
cat >/etc/systemd/system/carrel-host-keys.service <<'EOF'
[Unit]
Description=Print the SSH host key fingerprints on the console (carrel provisioner verifies them)
After=cloud-init.service ssh.service
Wants=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/carrel-host-keys
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
EOF
systemctl enable carrel-host-keys.service ssh.service

step "carrel-prewarm.service: read the tool's files at boot"
# A volume restored from the image fetches each block from S3 on its first read ("Initialize Amazon EBS
# volumes"), which makes a first Jupyter start several times slower. At every boot, at idle priority, read
# the files the tool and the gate start from: a warm-pool spare is fully read while it waits to be taken, and
# any instance has them in its page cache sooner.
cat >/usr/local/sbin/carrel-prewarm <<'PREWARM'
#!/bin/sh
# Reads the tool's and the gate's files once (see carrel-prewarm.service); harmless to run again.
set -u
for dir in /usr/lib/python3 /usr/lib/python3.11 /usr/share/jupyter /usr/local/lib/node_modules /usr/local/bin /usr/lib/R; do
  [ -d "$dir" ] && find "$dir" -xdev -type f -print0 | xargs -0 -r cat >/dev/null 2>&1
done
exit 0
PREWARM
chmod 0755 /usr/local/sbin/carrel-prewarm
cat >/etc/systemd/system/carrel-prewarm.service <<'PREWARM'
[Unit]
Description=Read the tool's files once after boot (fetches lazily restored EBS blocks; carrel warm pool)
After=local-fs.target

[Service]
Type=oneshot
Nice=19
IOSchedulingClass=idle
ExecStart=/usr/local/sbin/carrel-prewarm

[Install]
WantedBy=multi-user.target
PREWARM
systemctl enable carrel-prewarm.service

step "clean up: no default user, host keys, logs or cloud-init state carried into instances"
# the base image's cloud-init made its default user (Debian: admin) on the bake instance, with uid 1000;
# run this through SSM/Image Builder, not an SSH session of that user
if default_user=$(getent passwd 1000); then
  userdel --force --remove "${default_user%%:*}"
fi
rm -f /etc/sudoers.d/90-cloud-init-users
apt-get clean
rm -rf /var/lib/apt/lists/* /tmp/* /var/tmp/*
rm -f /etc/ssh/ssh_host_*
cloud-init clean --logs
truncate -s 0 /etc/machine-id
echo "carrel workspace image baked: node $(/usr/local/bin/node --version), $(mount.efs --version | head -n 1), jupyter-notebook $(jupyter-notebook --version)"
