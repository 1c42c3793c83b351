#!/usr/bin/env bash
# Prepare this machine (the Ansible controller / CI runner) for pifleet's tests.
# Idempotent and fast when everything is already in place. Needs root or sudo.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

packages=(
  docker.io            # engine for the container test tier and the bot image builds
  qemu-user-static     # arm64 userland via binfmt (debootstrap second stage, arm64 images)
  binfmt-support
  debootstrap          # all test images come from Debian's archive: no registry is reachable
  qemu-system-arm      # Pi-like arm64 VMs (qemu-system-aarch64)
  qemu-utils           # qemu-img: copy-on-write disks per VM
  mtools dosfstools    # vfat boot partition without loop mounts
  e2fsprogs fdisk      # mkfs.ext4 -d, sfdisk
  zstd                 # compressed image artifacts
  binutils binutils-aarch64-linux-gnu  # strip the wheels' shared objects for the bot image (either arch)
  openssh-client
  iproute2
  dnsmasq-base         # DHCP on the VMs' shared test LAN (tools/vm/lan.sh; the binary, no system service)
  nmap                 # the fleet's firewall seen from another host on that LAN
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "host-setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# No systemd as PID 1 on CI machines: start dockerd ourselves when no daemon answers.
if ! docker info >/dev/null 2>&1; then
  echo "host-setup: starting dockerd"
  $SUDO sh -c 'nohup dockerd >/var/log/pifleet-dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { echo "host-setup: dockerd did not start, see /var/log/pifleet-dockerd.log" >&2; exit 1; }
fi

# arm64 binaries through qemu-user (flag F keeps it working inside containers and chroots).
if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
  $SUDO mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
if ! grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
  $SUDO update-binfmts --enable qemu-aarch64
fi
grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 || { echo "host-setup: binfmt qemu-aarch64 unavailable" >&2; exit 1; }
echo "host-setup: ok (docker $(docker version -f '{{.Server.Version}}'), binfmt aarch64 enabled)"
