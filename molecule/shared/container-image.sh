#!/usr/bin/env bash
# Build (or reuse) a systemd container image for Molecule's container tier, from Debian's archive:
# no container registry is needed. Usage: container-image.sh RELEASE ARCH   (e.g. trixie amd64)
# The image is tagged pifleet/systemd:RELEASE-ARCH and labelled with a hash of this recipe;
# a matching image is reused, so only the first run on a machine pays for debootstrap.
set -euo pipefail

release=${1:?usage: container-image.sh RELEASE ARCH}
arch=${2:?usage: container-image.sh RELEASE ARCH}
mirror=${PIFLEET_DEBIAN_MIRROR:-http://deb.debian.org/debian}
tag="pifleet/systemd:${release}-${arch}"
packages=systemd,systemd-sysv,dbus,python3,python3-apt,procps,sudo,iproute2,kmod,ca-certificates

recipe=$(printf '%s\n' "$release" "$arch" "$mirror" "$packages" | cat - "$0" | sha256sum | cut -c1-16)
have=$(docker image inspect -f '{{ index .Config.Labels "org.pifleet.recipe" }}' "$tag" 2>/dev/null || true)
if [ "$have" = "$recipe" ]; then
  echo "container-image: $tag is current (recipe $recipe)"
  exit 0
fi

work=$(mktemp -d /var/tmp/pifleet-rootfs.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "container-image: building $tag with debootstrap (recipe $recipe)"
debootstrap --arch="$arch" --variant=minbase --include="$packages" "$release" "$work/root" "$mirror" \
  >"$work/debootstrap.log" 2>&1 || { tail -30 "$work/debootstrap.log" >&2; exit 1; }

root="$work/root"
# Plain-http apt works from containers here (HTTPS is intercepted), and it is what the roles will use.
echo "deb $mirror $release main" >"$root/etc/apt/sources.list"
# Units that cannot work in a container and only slow the boot or fail it.
for unit in systemd-remount-fs.service systemd-firstboot.service getty.target console-getty.service \
  systemd-udevd.service systemd-udev-trigger.service sys-kernel-config.mount sys-kernel-debug.mount; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
  "$root"/usr/share/man/* "$root"/usr/share/locale/*
: >"$root/etc/machine-id"

platform="linux/${arch}"
tar -C "$root" -c . | docker import \
  --platform "$platform" \
  --change 'ENV container=docker' \
  --change 'CMD ["/sbin/init"]' \
  --change "LABEL org.pifleet.recipe=$recipe" \
  - "$tag" >/dev/null
echo "container-image: built $tag ($(docker image inspect -f '{{.Architecture}} {{.Size}}' "$tag") bytes)"
