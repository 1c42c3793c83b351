#!/usr/bin/env bash
# Build (or reuse) a Pi-like Debian arm64 disk image for the VM test tier.
# Usage: vm-image.sh RELEASE [PROFILE]   (trixie | bookworm; flashed | provisioned)
#   -> prints the path of the cached base image
# flashed (default): as Raspberry Pi OS is flashed. provisioned: the same with the packages site.yml installs
# (tools/images/provisioned-packages) already on it: the fleet scenario's VMs, whose tests need an ARM64
# kernel, not dpkg under TCG (the default scenario proves the install from a flashed image).
#
# Layout as on Raspberry Pi OS: MBR, partition 1 vfat (mounted at /boot/firmware) holding cmdline.txt,
# config.txt, the kernel (kernel8.img) and initramfs (initramfs8); partition 2 ext4 root, found by
# root=PARTUUID=<disk id>-02. Built from Debian's archive with debootstrap (second stage through
# qemu-user binfmt) and assembled with mkfs.ext4 -d, mtools and sfdisk: no loop devices, no mounts.
# Cached in ~/.cache/pifleet/images under a hash of this recipe: only the first run pays.
set -euo pipefail

release=${1:?usage: vm-image.sh RELEASE [PROFILE]}
profile=${2:-flashed}
mirror=${PIFLEET_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${PIFLEET_CACHE:-$HOME/.cache/pifleet}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/workdir.sh"
boot_mb=256
root_mb=6144

packages=linux-image-arm64,initramfs-tools,systemd-sysv,udev,dbus,kmod,openssh-server,sudo,python3,python3-apt
packages+=,iproute2,procps,dosfstools,e2fsprogs,ca-certificates,gnupg,curl,less
# bookworm Pi OS swaps to the SD card with dphys-swapfile (the swap role must turn it off); trixie
# Pi OS uses its own rpi-swap, which Debian does not package.
case "$release" in
  trixie) packages+=,systemd-resolved,systemd-timesyncd ;;
  bookworm) packages+=,systemd-timesyncd,dphys-swapfile ;;
  *) echo "vm-image: unsupported release $release" >&2; exit 2 ;;
esac
case "$profile" in
  flashed) ;;
  provisioned)
    extra=$(awk -v r="$release" '$1 == r {$1 = ""; print substr($0, 2)}' "$here/../images/provisioned-packages")
    [ -n "$extra" ] || { echo "vm-image: provisioned-packages names none for $release" >&2; exit 2; }
    packages+=,${extra// /,}
    ;;
  *) echo "vm-image: unknown profile $profile" >&2; exit 2 ;;
esac

# Two cache levels: the debootstrapped rootfs (slow, keyed on what it contains) and the assembled disk
# (fast, keyed on everything), so changing the assembly never repeats debootstrap.
rootfs_key=$(printf '%s\n' "$release" "$mirror" "$packages" | sha256sum | cut -c1-16)
rootfs_tar="$cache/rootfs/$release-arm64-$rootfs_key.tar"
recipe=$( (printf '%s\n' "$rootfs_key" "$boot_mb" "$root_mb"; cat "$0" "$here/vm-files/"*) | sha256sum | cut -c1-16)
out="$cache/images/pi-$release-$profile-$recipe.qcow2"
key="$cache/ssh/id_ed25519"
if [ -f "$out" ]; then
  echo "$out"
  exit 0
fi
mkdir -p "$cache/images" "$cache/ssh" "$cache/rootfs"
# Builders run side by side (Molecule's create, make test's head start): one build per release, one key.
exec 9>"$cache/images/.$release.lock"
flock 9
if [ -f "$out" ]; then
  echo "$out"
  exit 0
fi
(flock 8 && { [ -f "$key" ] || ssh-keygen -q -t ed25519 -N '' -C pifleet-test -f "$key"; }) 8>"$cache/ssh/.lock"

work=$(workdir_make pifleet-vm)
trap 'workdir_remove "$work"' EXIT
root="$work/root"
if [ ! -f "$rootfs_tar" ]; then
  echo "vm-image: debootstrap $release arm64 ($rootfs_key); minutes under qemu-user" >&2
  # A Cortex-A72 (the Pi 4 core, ARMv8.0) has no pointer authentication: qemu-user's default "max" CPU
  # emulates trixie's PAC-protected binaries with the slow architected cipher.
  # INITRD=No: the kernel's hook would build the initramfs when linux-image is configured and
  # initramfs-tools' trigger again after it (bookworm: ~10 min each under qemu-user); it is built below.
  INITRD=No QEMU_CPU=cortex-a72 debootstrap --arch=arm64 --variant=minbase --include="$packages" "$release" \
    "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || { tail -40 "$work/debootstrap.log" >&2; exit 1; }
  rm -rf "$root"/var/cache/apt/archives/*.deb
  tar -C "$root" --numeric-owner -cf "$rootfs_tar.tmp" . && mv "$rootfs_tar.tmp" "$rootfs_tar"
else
  mkdir -p "$root"
  tar -C "$root" --numeric-owner -xf "$rootfs_tar"
fi

disk_id=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
partuuid="$disk_id-02"
in_root() { chroot "$root" /usr/bin/env -i QEMU_CPU=cortex-a72 PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

echo "deb $mirror $release main" >"$root/etc/apt/sources.list"
echo raspberrypi >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\traspberrypi\n' >"$root/etc/hosts"
# Under TCG on a loaded machine udev can take longer than systemd's default 90 s to announce the boot
# partition; a timeout there drops the VM into emergency mode.
cat >"$root/etc/fstab" <<FSTAB
PARTUUID=$disk_id-02  /               ext4  defaults            0 1
PARTUUID=$disk_id-01  /boot/firmware  vfat  defaults,x-systemd.device-timeout=600s  0 2
FSTAB
mkdir -p "$root/boot/firmware" "$root/etc/systemd/network"
cp "$here/vm-files/10-dhcp.network" "$root/etc/systemd/network/"
in_root systemctl enable systemd-networkd ssh >/dev/null 2>&1
[ "$release" = trixie ] && in_root systemctl enable systemd-resolved >/dev/null 2>&1
# The monitoring host's servers come on a provisioned disk only to spare the demo's monitoring VM their dpkg
# under TCG: off until the monitoring role starts them, as on a Pi that never installed them. Left on, they
# cost every other VM ~3 s of emulated CPU a minute (VictoriaMetrics 2, Alertmanager 1) for the whole run.
for unit in victoria-metrics prometheus-alertmanager; do
  [ -e "$root/usr/lib/systemd/system/$unit.service" ] || continue  # /lib is usr/lib: both releases are merged-usr
  in_root systemctl disable "$unit" >/dev/null 2>&1
done
# Unattended apt runs would hold the dpkg lock while the roles converge.
in_root systemctl mask apt-daily.timer apt-daily-upgrade.timer >/dev/null 2>&1 || true
in_root useradd -m -s /bin/bash -G sudo pi
echo 'pi ALL=(ALL) NOPASSWD: ALL' >"$root/etc/sudoers.d/010_pi-nopasswd"
chmod 0440 "$root/etc/sudoers.d/010_pi-nopasswd"
install -d -m 0700 -o 1000 -g 1000 "$root/home/pi/.ssh"
install -m 0600 -o 1000 -g 1000 "$key.pub" "$root/home/pi/.ssh/authorized_keys"
: >"$root/etc/machine-id"
rm -f "$root"/etc/ssh/ssh_host_*
cp "$here/vm-files/regenerate-ssh-host-keys.service" "$root/etc/systemd/system/"
in_root systemctl enable regenerate-ssh-host-keys.service >/dev/null 2>&1
# A boot is online when one NIC is (the user-mode NIC, SSH's way in): waiting for both held every boot ~100 s
# (systemd-analyze) with the LAN's second NIC, and the fleet's tests boot each VM three to four times.
mkdir -p "$root/etc/systemd/system/systemd-networkd-wait-online.service.d"
cp "$here/vm-files/wait-online-any.conf" "$root/etc/systemd/system/systemd-networkd-wait-online.service.d/"
# bookworm: dphys-swapfile's file is made at first boot, sized by /etc/dphys-swapfile. Debian's default (twice
# the RAM, at most 2 GiB) was 4 minutes of emulated dd on each new VM; a fixed 100 MB is a Pi OS-sized file.
if [ -f "$root/etc/dphys-swapfile" ]; then
  sed -i 's/^#\?CONF_SWAPSIZE=.*/CONF_SWAPSIZE=100/' "$root/etc/dphys-swapfile"
  grep -q '^CONF_SWAPSIZE=100$' "$root/etc/dphys-swapfile" || { echo "vm-image: CONF_SWAPSIZE not set" >&2; exit 1; }
fi

# An initramfs with what mounts the VMs' root (virtio-blk; NVMe; ext4) and nothing else: Debian's MODULES=most
# spawns emulated processes per module, ~10 min for bookworm under qemu-user, the list ~40 s. The policy stays
# in the image, so an initramfs rebuilt inside a VM boots the same way.
echo MODULES=list >"$root/etc/initramfs-tools/conf.d/pifleet-vm.conf"
printf '%s\n' virtio_pci virtio_blk nvme ext4 crc32c >>"$root/etc/initramfs-tools/modules"
rm -f "$root"/boot/initrd.img-* "$root"/var/lib/initramfs-tools/*
for kver in "$root"/lib/modules/*; do
  in_root update-initramfs -c -k "${kver##*/}" >"$work/initramfs.log" 2>&1 || { cat "$work/initramfs.log" >&2; exit 1; }
done

# The boot partition, as Pi firmware expects it.
boot="$work/boot"
mkdir -p "$boot"
cp "$root"/boot/vmlinuz-* "$boot/kernel8.img"
cp "$root"/boot/initrd.img-* "$boot/initramfs8"
cp "$here/vm-files/config.txt" "$boot/config.txt"
echo "console=ttyAMA0,115200 root=PARTUUID=$partuuid rootfstype=ext4 fsck.repair=yes rootwait" >"$boot/cmdline.txt"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
# Like a Pi flashed from an image built weeks ago: apt's cache must look stale, not freshly emptied.
touch -d @0 "$root/var/lib/apt/lists"

mkfs.vfat -C -F 32 -n bootfs "$work/boot.img" $((boot_mb * 1024)) >/dev/null
mcopy -i "$work/boot.img" -s "$boot"/* ::
truncate -s "${root_mb}M" "$work/root.img"
mkfs.ext4 -q -L rootfs -d "$root" "$work/root.img"

disk="$work/disk.raw"
truncate -s $((1 + boot_mb + root_mb))M "$disk"
sfdisk -q "$disk" <<SFDISK
label: dos
label-id: 0x$disk_id
start=1MiB, size=${boot_mb}MiB, type=c
start=$((1 + boot_mb))MiB, size=${root_mb}MiB, type=83
SFDISK
dd if="$work/boot.img" of="$disk" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$work/root.img" of="$disk" bs=1M seek=$((1 + boot_mb)) conv=notrunc,sparse status=none
qemu-img convert -O qcow2 "$disk" "$out.tmp"
mv "$out.tmp" "$out"
echo "vm-image: built $out ($(du -h "$out" | cut -f1))" >&2
echo "$out"
