#!/usr/bin/env bash
# carrel workspace provisioning: prepares a running EC2 workspace for its researcher.
#
# Run as root (the provisioner Lambda runs it with `sudo -n` as carrel-provisioner over SSH). Idempotent:
# running it again with the same inputs changes nothing, and every change it does make is printed as a
# `changed: ...` line. Bounded in time: the mount and every wait have a timeout. On failure the last line
# on stderr is `carrel-provision: <reason>` (never a secret) and the exit code says which step failed.
#
# Steps:
#   1. the researcher's group and user, with the fixed uid/gid of the home's EFS access point;
#   2. the metadata firewall: only root and the gate's system user may reach the instance metadata service
#      (169.254.169.254, fd00:ec2::254), so no researcher process can take the instance role's credentials
#      (which may mount any home's access point): iptables/ip6tables owner rules, else an nftables table,
#      each checked before it is added. The rules are also written to /etc/carrel/imds-firewall.rules;
#      with --sysroot or --no-systemd (tests) only that file is written and no firewall is touched;
#   3. the home: `mount -t efs -o tls,iam,accesspoint=<ap> <fs>:/ /home/<user>` (or an existing folder with
#      --home-dir, for tests);
#   4. first use only: the blank project (template, .carrel/data-api-key, git repository with its remote);
#      a researcher's files are never overwritten;
#   5. the gate: its bundle, its environment file /etc/carrel/gate.env and the TLS certificate (root-only);
#   6. the systemd units carrel-tool (Jupyter as the researcher on 127.0.0.1) and carrel-gate (the gate as
#      its own system user on the HTTPS port), (re)started when something they use changed, then a wait
#      for the gate's health (which answers 200 only when the tool answers). --no-systemd writes the units
#      but manages no service (tests; CI has no systemd).
#
# Exit codes:
#   0 ready        2 bad arguments or inputs     3 the home could not be mounted or is not the user's
#   4 user/group conflict     5 the blank project could not be filled     6 gate/tool files
#   7 services did not start or the gate did not become healthy in time   8 not run as root
#   9 the metadata firewall could not be set (no working iptables or nft)
#   1 anything unexpected; any other failing command exits with its step's code, naming the step, the
#     line and the command (never its arguments' values: commands are reported as written)
set -Eeuo pipefail
umask 077
export LC_ALL=C
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

readonly PROG=carrel-provision

fail() {
  local code=$1
  shift
  printf '%s: %s\n' "$PROG" "$*" >&2
  exit "$code"
}

# What the script is doing, and the exit code a failure there gets (see the table above).
step="checking the arguments" step_code=2
at_step() {
  step=$1 step_code=$2
}

on_error() {
  local status=$1 line=$2 command=$3
  # A subshell's failure is reported once, by the shell that ran it.
  ((BASH_SUBSHELL == 0)) || exit "$status"
  printf '%s: %s failed (exit %s at line %s: %s)\n' "$PROG" "$step" "$status" "$line" "$command" >&2
  exit "$step_code"
}
trap 'on_error $? $LINENO "$BASH_COMMAND"' ERR

usage() {
  cat <<'EOF'
usage: provision.sh --user NAME --analysis ID --uid N --gid N
                    (--access-point fsap-... --file-system fs-... | --home-dir PATH)
                    --data-api-key-file FILE [--git-remote URL]
                    --gate-bundle FILE --gate-env FILE --tls-cert FILE --tls-key FILE --template DIR
                    [--gate-user NAME] [--tool-port N] [--node PATH] [--jupyter PATH]
                    [--mount-timeout SECONDS] [--ready-timeout SECONDS] [--sysroot DIR] [--no-systemd]
EOF
}

# ------------------------------------------------------------------------------------------- arguments
user="" analysis="" uid=1000 gid=1000 access_point="" file_system="" home_dir=""
data_key_file="" git_remote="" gate_bundle="" gate_env="" tls_cert="" tls_key="" template=""
gate_user=carrel-gate tool_port=8888 node=/usr/local/bin/node jupyter=/usr/bin/jupyter-notebook
mount_timeout=60 ready_timeout=60 sysroot="" systemd=1

need_value() { [[ $# -ge 2 ]] || fail 2 "option $1 needs a value"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --user) need_value "$@"; user=$2; shift 2 ;;
    --analysis) need_value "$@"; analysis=$2; shift 2 ;;
    --uid) need_value "$@"; uid=$2; shift 2 ;;
    --gid) need_value "$@"; gid=$2; shift 2 ;;
    --access-point) need_value "$@"; access_point=$2; shift 2 ;;
    --file-system) need_value "$@"; file_system=$2; shift 2 ;;
    --home-dir) need_value "$@"; home_dir=$2; shift 2 ;;
    --data-api-key-file) need_value "$@"; data_key_file=$2; shift 2 ;;
    --git-remote) need_value "$@"; git_remote=$2; shift 2 ;;
    --gate-bundle) need_value "$@"; gate_bundle=$2; shift 2 ;;
    --gate-env) need_value "$@"; gate_env=$2; shift 2 ;;
    --tls-cert) need_value "$@"; tls_cert=$2; shift 2 ;;
    --tls-key) need_value "$@"; tls_key=$2; shift 2 ;;
    --template) need_value "$@"; template=$2; shift 2 ;;
    --gate-user) need_value "$@"; gate_user=$2; shift 2 ;;
    --tool-port) need_value "$@"; tool_port=$2; shift 2 ;;
    --node) need_value "$@"; node=$2; shift 2 ;;
    --jupyter) need_value "$@"; jupyter=$2; shift 2 ;;
    --mount-timeout) need_value "$@"; mount_timeout=$2; shift 2 ;;
    --ready-timeout) need_value "$@"; ready_timeout=$2; shift 2 ;;
    --sysroot) need_value "$@"; sysroot=${2%/}; shift 2 ;;
    --no-systemd) systemd=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; fail 2 "unknown option: ${1:0:40}" ;;
  esac
done

[[ $(id -u) -eq 0 ]] || fail 8 "must run as root (the provisioner runs it with sudo)"

valid() { [[ $2 =~ $3 ]] || fail 2 "invalid $1"; }
valid "--user (a login name: lowercase letters, digits, _ and -)" "$user" '^[a-z_][a-z0-9_-]{0,31}$'
valid "--analysis" "$analysis" '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'
valid "--uid (1000-2147483646)" "$uid" '^[1-9][0-9]{3,9}$'
valid "--gid (1000-2147483646)" "$gid" '^[1-9][0-9]{3,9}$'
((uid <= 2147483646 && gid <= 2147483646 && uid != 65534 && gid != 65534)) || fail 2 "invalid --uid/--gid"
valid "--gate-user" "$gate_user" '^[a-z_][a-z0-9_-]{0,31}$'
[[ $gate_user != "$user" ]] || fail 2 "the researcher cannot be the gate user"
valid "--tool-port" "$tool_port" '^[1-9][0-9]{0,4}$'
valid "--mount-timeout" "$mount_timeout" '^[1-9][0-9]{0,3}$'
valid "--ready-timeout" "$ready_timeout" '^[1-9][0-9]{0,3}$'
[[ -z $git_remote ]] || valid "--git-remote (an https://, ssh:// or user@host:path URL)" "$git_remote" \
  '^(https://|ssh://|git://|file://)[^[:space:][:cntrl:]]+$|^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^[:space:][:cntrl:]]+$'
if [[ -n $home_dir ]]; then
  [[ $home_dir == /* && -d $home_dir ]] || fail 2 "--home-dir must be an existing absolute directory"
  home=$home_dir
else
  valid "--access-point" "$access_point" '^fsap-[0-9a-f]{8,40}$'
  valid "--file-system" "$file_system" '^fs-[0-9a-f]{8,40}$'
  home=/home/$user
fi
[[ -z $sysroot || ($sysroot == /* && -d $sysroot) ]] || fail 2 "--sysroot must be an existing absolute directory"
for pair in "data API key:$data_key_file" "gate bundle:$gate_bundle" "gate environment:$gate_env" \
  "TLS certificate:$tls_cert" "TLS key:$tls_key"; do
  [[ -f ${pair#*:} && -s ${pair#*:} ]] || fail 2 "missing input: the ${pair%%:*} file"
done
[[ -d $template ]] || fail 2 "missing input: the blank project template folder"

# ---------------------------------------------------------------------------------------------- helpers
changes=0
changed() {
  changes=$((changes + 1))
  printf 'changed: %s\n' "$*"
}

work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT

etc=$sysroot/etc/carrel
opt=$sysroot/opt/carrel
units=$sysroot/etc/systemd/system

# ensure_dir PATH MODE OWNER GROUP
ensure_dir() {
  local path=$1 mode=$2 owner=$3 group=$4
  if [[ ! -d $path ]]; then
    install -d -m "$mode" -o "$owner" -g "$group" -- "$path"
    changed "created $path"
  else
    ensure_meta "$path" "$mode" "$owner" "$group"
  fi
}

# ensure_meta PATH MODE OWNER GROUP: set mode and ownership only when they differ.
ensure_meta() {
  local path=$1 mode=$2 owner=$3 group=$4
  if [[ $(stat -c '%a %U %G' -- "$path") != "$mode $owner $group" ]]; then
    chown -- "$owner:$group" "$path"
    chmod -- "$mode" "$path"
    changed "set $path to $mode $owner:$group"
  fi
}

# put_file SRC DEST MODE OWNER GROUP: install SRC as DEST (atomically) only when the content differs,
# and fix its mode and owner. Sets `wrote` to 1 when DEST changed in any way, else 0.
# (It always returns 0: a function called as a condition would run with errexit off.)
wrote=0
put_file() {
  local src=$1 dest=$2 mode=$3 owner=$4 group=$5 tmp before=$changes
  if [[ -f $dest && ! -L $dest ]] && cmp -s -- "$src" "$dest"; then
    ensure_meta "$dest" "$mode" "$owner" "$group"
  else
    tmp=$(dirname -- "$dest")/.$(basename -- "$dest").carrel-new
    install -m "$mode" -o "$owner" -g "$group" -T -- "$src" "$tmp"
    mv -f -T -- "$tmp" "$dest"
    changed "wrote $dest"
  fi
  wrote=$((changes > before ? 1 : 0))
}

# Run a command as the researcher (every change inside the home is made as them: a symbolic link a
# researcher left there can never make root write elsewhere), with an ordinary umask.
as_user() {
  (cd / && umask 022 && setpriv --reuid="$uid" --regid="$gid" --init-groups --reset-env -- "$@")
}

# ------------------------------------------------------------------------------- 1. group and user
at_step "creating the researcher's user" 4
if group_entry=$(getent group "$gid"); then
  group=${group_entry%%:*}
else
  if getent group "$user" >/dev/null; then
    fail 4 "group $user already exists with another gid (expected $gid)"
  fi
  groupadd --gid "$gid" -- "$user"
  group=$user
  changed "created group $user ($gid)"
fi

if user_entry=$(getent passwd "$user"); then
  IFS=: read -r _ _ current_uid current_gid _ current_home _ <<<"$user_entry"
  [[ $current_uid == "$uid" ]] || fail 4 "user $user exists with uid $current_uid, not $uid"
  if [[ $current_gid != "$gid" || $current_home != "$home" ]]; then
    usermod --gid "$gid" --home "$home" -- "$user"
    changed "set $user's group to $gid and home to $home"
  fi
else
  if other=$(getent passwd "$uid"); then
    fail 4 "uid $uid already belongs to ${other%%:*}; the home's POSIX user needs it"
  fi
  useradd --uid "$uid" --gid "$gid" --no-create-home --home-dir "$home" --shell /bin/bash \
    --comment "carrel researcher" -- "$user"
  changed "created user $user ($uid:$gid)"
fi

if ! getent passwd "$gate_user" >/dev/null; then
  useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
    --comment "carrel gate" -- "$gate_user"
  changed "created system user $gate_user"
fi

# ------------------------------------------------------------------------------ 2. the metadata firewall
at_step "setting the metadata firewall" 9
gate_uid=$(id -u -- "$gate_user")
# Every uid but root's (efs-utils mounts the home with the instance role) and the gate's is refused the
# metadata service. One rule per address family: its two owner matches must both hold.
imds_v4=(-d 169.254.169.254/32 -m owner ! --uid-owner 0 -m owner ! --uid-owner "$gate_uid" -m comment --comment carrel-imds -j REJECT)
imds_v6=(-d fd00:ec2::254/128 -m owner ! --uid-owner 0 -m owner ! --uid-owner "$gate_uid" -m comment --comment carrel-imds -j REJECT)
imds_nft_marker="carrel-imds: metadata for uid 0 and $gate_uid only"
imds_nft_table="table inet carrel_imds {
  chain output {
    type filter hook output priority filter; policy accept;
    ip daddr 169.254.169.254 meta skuid { 0, $gate_uid } accept
    ip6 daddr fd00:ec2::254 meta skuid { 0, $gate_uid } accept
    ip daddr 169.254.169.254 reject comment \"$imds_nft_marker\"
    ip6 daddr fd00:ec2::254 reject comment \"$imds_nft_marker\"
  }
}"
{
  printf '# carrel: only root (uid 0) and the gate (%s, uid %s) may reach the instance metadata service.\n' "$gate_user" "$gate_uid"
  printf '# Set by provision.sh at every provisioning, before any researcher process runs; not saved across\n'
  printf '# reboots (a started instance is provisioned again). iptables/ip6tables:\n'
  printf 'iptables -I OUTPUT 1 %s\n' "${imds_v4[*]}"
  printf 'ip6tables -I OUTPUT 1 %s\n' "${imds_v6[*]}"
  printf '# or, where iptables does not work, nftables:\n'
  printf '%s\n' "$imds_nft_table"
} >"$work/imds-firewall.rules"

# imds_rule TOOL RULE...: put RULE first in OUTPUT unless it is there already.
imds_rule() {
  local tool=$1
  shift
  if ! "$tool" -w 10 -C OUTPUT "$@" 2>/dev/null; then
    "$tool" -w 10 -I OUTPUT 1 "$@"
    changed "$tool: instance metadata refused to every uid but 0 and $gate_uid"
  fi
}

# imds_nft: the carrel_imds table, unless it is there with these uids. Declared, deleted and declared again
# in one transaction, which replaces an older table atomically.
imds_nft() {
  if nft list table inet carrel_imds 2>/dev/null | grep -qF -- "comment \"$imds_nft_marker\""; then
    return 0
  fi
  printf 'table inet carrel_imds\ndelete table inet carrel_imds\n%s\n' "$imds_nft_table" | nft -f -
  changed "nft: instance metadata refused to every uid but 0 and $gate_uid"
}

if [[ -n $sysroot || $systemd -eq 0 ]]; then
  : # test mode: only the rules file below; this machine's firewall is left alone
elif command -v iptables >/dev/null && iptables -w 10 -S OUTPUT >/dev/null 2>&1; then
  imds_rule iptables "${imds_v4[@]}"
  if command -v ip6tables >/dev/null && ip6tables -w 10 -S OUTPUT >/dev/null 2>&1; then
    imds_rule ip6tables "${imds_v6[@]}"
  elif [[ -e /proc/net/if_inet6 ]]; then
    fail 9 "IPv6 is on but ip6tables does not work: cannot keep researcher processes from fd00:ec2::254"
  fi
elif command -v nft >/dev/null; then
  imds_nft
else
  fail 9 "neither iptables nor nft works: cannot keep researcher processes from the instance metadata service"
fi
ensure_dir "$etc" 755 root root
put_file "$work/imds-firewall.rules" "$etc/imds-firewall.rules" 644 root root

# ------------------------------------------------------------------------------------------ 3. the home
at_step "mounting the home" 3
if [[ -z $home_dir ]]; then
  if ! mountpoint -q -- "$home"; then
    command -v mount.efs >/dev/null || fail 3 "amazon-efs-utils is not installed (no mount.efs)"
    mkdir -p -- "$home"
    if ! timeout --kill-after=5 "$mount_timeout" \
      mount -t efs -o "tls,iam,accesspoint=$access_point" -- "$file_system:/" "$home" >"$work/mount.log" 2>&1; then
      fail 3 "could not mount the home ($file_system, $access_point) within ${mount_timeout} s: $(tail -n 1 "$work/mount.log" | tr -cd '[:print:]' | cut -c1-200)"
    fi
    changed "mounted $file_system ($access_point) on $home"
  fi
fi
home_owner=$(stat -c '%u' -- "$home")
[[ $home_owner == "$uid" ]] || fail 3 "the home $home belongs to uid $home_owner, not $uid"

# ---------------------------------------------------------------------------- 4. first use: the project
marker=$home/.carrel/project-initialized
at_step "filling the blank project" 5
if [[ ! -e $marker ]]; then
  command -v git >/dev/null || fail 5 "git is not installed"
  if [[ ! -d $home/.carrel ]]; then
    as_user mkdir -m 700 -- "$home/.carrel"
    changed "created $home/.carrel"
  fi
  while IFS= read -r -d '' rel; do
    # `dot-x` in the template becomes `.x` (a file named .gitignore would act on this repository)
    target=$(printf '%s' "$rel" | sed -E 's#(^|/)dot-#\1.#g')
    dest=$home/$target
    if [[ -e $dest || -L $dest ]]; then
      printf 'kept: %s (already there)\n' "$target"
      continue
    fi
    as_user mkdir -p -- "$(dirname -- "$dest")"
    sed -e "s/{{ANALYSIS_ID}}/$analysis/g" -e "s/{{USER}}/$user/g" -- "$template/$rel" | as_user tee -- "$dest" >/dev/null
    as_user chmod 644 -- "$dest"
    changed "added $target"
  done < <(cd "$template" && find . -type f -printf '%P\0' | sort -z)
  if [[ ! -e $home/.carrel/data-api-key ]]; then
    as_user tee -- "$home/.carrel/data-api-key" <"$data_key_file" >/dev/null
    as_user chmod 600 -- "$home/.carrel/data-api-key"
    changed "added .carrel/data-api-key"
  fi
  if [[ ! -e $home/.git ]]; then
    as_user git -C "$home" init --quiet --initial-branch=main
    changed "initialised a git repository"
  fi
  if [[ -n $git_remote ]] && ! as_user git -C "$home" remote get-url origin >/dev/null 2>&1; then
    as_user git -C "$home" remote add origin "$git_remote"
    changed "set the git remote origin"
  fi
  date -u +%Y-%m-%dT%H:%M:%SZ | as_user tee -- "$marker" >/dev/null
  changed "the blank project is ready"
fi

# ------------------------------------------------------------------------------- 5. the gate's files
at_step "installing the gate and tool files" 6
ensure_dir "$etc" 755 root root
ensure_dir "$etc/tls" 700 root root
ensure_dir "$opt" 755 root root
ensure_dir "$opt/gate" 755 root root
ensure_dir "$units" 755 root root

restart_gate=0 restart_tool=0
put_file "$gate_bundle" "$opt/gate/gate.mjs" 644 root root
((wrote == 0)) || restart_gate=1

grep -q -- '-----BEGIN CERTIFICATE-----' "$tls_cert" || fail 6 "the TLS certificate is not a PEM certificate"
grep -Eq -- '-----BEGIN ([A-Z]+ )?PRIVATE KEY-----' "$tls_key" || fail 6 "the TLS key is not a PEM private key"
if command -v openssl >/dev/null; then
  openssl x509 -noout -pubkey -in "$tls_cert" >"$work/cert.pub" 2>/dev/null || fail 6 "the TLS certificate cannot be read"
  openssl pkey -pubout -in "$tls_key" >"$work/key.pub" 2>/dev/null || fail 6 "the TLS key cannot be read"
  cmp -s "$work/cert.pub" "$work/key.pub" || fail 6 "the TLS key does not match the certificate"
fi
put_file "$tls_cert" "$etc/tls/cert.pem" 600 root root
((wrote == 0)) || restart_gate=1
put_file "$tls_key" "$etc/tls/key.pem" 600 root root
((wrote == 0)) || restart_gate=1

# The tool's token: made once, known only to root, the tool (through systemd) and the gate.
if [[ -f $etc/tool.env ]] && grep -Eq '^JUPYTER_TOKEN=[0-9a-f]{48}$' "$etc/tool.env"; then
  tool_token=$(sed -n -E 's/^JUPYTER_TOKEN=([0-9a-f]{48})$/\1/p' "$etc/tool.env" | head -n 1)
else
  tool_token=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
fi
printf 'JUPYTER_TOKEN=%s\n' "$tool_token" >"$work/tool.env"
put_file "$work/tool.env" "$etc/tool.env" 600 root root
((wrote == 0)) || restart_tool=1 restart_gate=1

# The desk's part of the gate's environment (uploaded) plus the host's part (the tool and its token).
gate_port=""
while IFS= read -r line || [[ -n $line ]]; do
  [[ -z $line || $line == \#* ]] && continue
  [[ $line =~ ^(CARREL_GATE_[A-Z0-9_]+)=(.*)$ ]] || fail 2 "the gate environment has a line that is not CARREL_GATE_NAME=value"
  name=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
  case "$name" in
    CARREL_GATE_UPSTREAM | CARREL_GATE_UPSTREAM_AUTH | CARREL_GATE_TLS_CERT | CARREL_GATE_TLS_KEY | \
      CARREL_GATE_TLS_CERT_PEM | CARREL_GATE_TLS_KEY_PEM | CARREL_GATE_BUSY_PROBE)
      fail 2 "the gate environment must not set $name (the host sets it)" ;;
    CARREL_GATE_PORT)
      value=${value#\'} value=${value%\'}
      [[ $value =~ ^[1-9][0-9]{0,4}$ ]] || fail 2 "the gate environment has an invalid CARREL_GATE_PORT"
      gate_port=$value ;;
  esac
done <"$gate_env"
[[ -n $gate_port ]] || fail 2 "the gate environment does not set CARREL_GATE_PORT"
{
  printf '# carrel gate environment: written by provision.sh (desk part, then host part). Root only.\n'
  grep -E '^CARREL_GATE_[A-Z0-9_]+=' "$gate_env"
  printf 'CARREL_GATE_UPSTREAM=http://127.0.0.1:%s\n' "$tool_port"
  printf "CARREL_GATE_UPSTREAM_AUTH='token %s'\n" "$tool_token"
  printf 'CARREL_GATE_BUSY_PROBE=jupyter\n'
} >"$work/gate.env"
put_file "$work/gate.env" "$etc/gate.env" 600 root root
((wrote == 0)) || restart_gate=1

# -------------------------------------------------------------------------------- 6. systemd units
if [[ -z $home_dir ]]; then
  mount_condition="RequiresMountsFor=$home
ConditionPathIsMountPoint=$home"
else
  mount_condition="RequiresMountsFor=$home"
fi
cat >"$work/carrel-tool.service" <<EOF
# Written by carrel provision.sh: the workspace tool, as the researcher, reachable only on loopback
# (the gate is the only way in). The token comes from /etc/carrel/tool.env (root-only).
[Unit]
Description=carrel workspace tool (Jupyter Notebook for $user)
After=network.target
$mount_condition

[Service]
Type=simple
User=$user
Group=$group
WorkingDirectory=$home
Environment=HOME=$home
EnvironmentFile=/etc/carrel/tool.env
ExecStart=$jupyter --no-browser --ip=127.0.0.1 --port=$tool_port --port-retries=0 --notebook-dir=$home --NotebookApp.allow_remote_access=True
Restart=on-failure
RestartSec=2
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=full
TimeoutStopSec=15
EOF
cat >"$work/carrel-gate.service" <<EOF
# Written by carrel provision.sh: the gate, as its own system user, on the HTTPS port. Its environment
# (/etc/carrel/gate.env) and certificate (/etc/carrel/tls) are root-only; systemd hands the certificate
# to the service as credentials.
[Unit]
Description=carrel gate (HTTPS reverse proxy in front of the workspace tool)
After=network-online.target carrel-tool.service
Wants=network-online.target

[Service]
Type=simple
User=$gate_user
Group=$gate_user
EnvironmentFile=/etc/carrel/gate.env
LoadCredential=tls-cert:/etc/carrel/tls/cert.pem
LoadCredential=tls-key:/etc/carrel/tls/key.pem
Environment=CARREL_GATE_TLS_CERT=%d/tls-cert
Environment=CARREL_GATE_TLS_KEY=%d/tls-key
ExecStart=$node /opt/carrel/gate/gate.mjs
Restart=on-failure
RestartSec=2
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
LockPersonality=yes
SystemCallArchitectures=native
TimeoutStopSec=15
EOF
units_changed=0
put_file "$work/carrel-tool.service" "$units/carrel-tool.service" 644 root root
((wrote == 0)) || units_changed=1 restart_tool=1
put_file "$work/carrel-gate.service" "$units/carrel-gate.service" 644 root root
((wrote == 0)) || units_changed=1 restart_gate=1

if [[ $systemd -eq 0 ]]; then
  if [[ $changes -eq 0 ]]; then echo "$PROG: ok, nothing changed (services not managed: --no-systemd)"; else echo "$PROG: ok, $changes changes (services not managed: --no-systemd)"; fi
  exit 0
fi

at_step "starting the services" 7
command -v systemctl >/dev/null || fail 7 "systemd is not available (use --no-systemd to only write the units)"
[[ -x $node ]] || fail 6 "node is not installed at $node"
[[ -x $jupyter ]] || fail 6 "jupyter is not installed at $jupyter"
if [[ $units_changed -eq 1 ]]; then
  timeout 30 systemctl daemon-reload || fail 7 "systemctl daemon-reload failed"
fi
# Units are started by provisioning only (not enabled): after a reboot the home is mounted again first.
for unit in carrel-tool carrel-gate; do
  if [[ $unit == carrel-tool ]]; then again=$restart_tool; else again=$restart_gate; fi
  if [[ $again -eq 1 ]] || ! systemctl is-active --quiet "$unit"; then
    timeout 30 systemctl restart "$unit" || fail 7 "$unit could not be started"
    changed "(re)started $unit"
  fi
done

deadline=$((SECONDS + ready_timeout))
until curl -fsSk --max-time 2 -o /dev/null "https://127.0.0.1:$gate_port/__carrel/health"; do
  if ((SECONDS >= deadline)); then
    fail 7 "the tool did not answer through the gate within ${ready_timeout} s (carrel-tool $(systemctl is-active carrel-tool || true), carrel-gate $(systemctl is-active carrel-gate || true))"
  fi
  sleep 1
done
if [[ $changes -eq 0 ]]; then echo "$PROG: ok, nothing changed"; else echo "$PROG: ok, $changes changes"; fi
