#!/usr/bin/env bash
# Build (or reuse) a container image from Debian's archive: no container registry is needed.
# Usage: container-image.sh RELEASE ARCH [PROFILE]      e.g. trixie amd64 | trixie arm64 python
#   systemd (default)  pifleet/systemd:RELEASE-ARCH  systemd test hosts for Molecule's container tier
#   python             pifleet/python:RELEASE-ARCH   the bot image's base: Debian's python3 + numpy, stripped
#   provisioned        pifleet/provisioned:RELEASE-ARCH   the systemd image with the packages site.yml installs
#                      (tools/images/provisioned-packages) already on it: the scale tier's hosts
# The image is labelled with a hash of this recipe; a matching image is reused, so only the first run on
# a machine pays for debootstrap.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/workdir.sh"

release=${1:?usage: container-image.sh RELEASE ARCH [PROFILE]}
arch=${2:?usage: container-image.sh RELEASE ARCH [PROFILE]}
profile=${3:-systemd}
mirror=${PIFLEET_DEBIAN_MIRROR:-http://deb.debian.org/debian}
tag="pifleet/${profile}:${release}-${arch}"
# Scenarios create their hosts side by side (make test's lanes): one build of an image at a time, the others
# wait for it and reuse it.
locks=${PIFLEET_CACHE:-$HOME/.cache/pifleet}/images
mkdir -p "$locks"
exec 9>"$locks/.container-${profile}-${release}-${arch}.lock"
flock 9

if [ "$profile" = provisioned ]; then
  "$0" "$release" "$arch" systemd
  base="pifleet/systemd:${release}-${arch}"
  list="$here/provisioned-packages"
  packages=$(awk -v r="$release" '$1 == r {$1 = ""; print substr($0, 2)}' "$list")
  [ -n "$packages" ] || { echo "container-image: $list names no packages for $release" >&2; exit 2; }
  recipe=$( (docker image inspect -f '{{ index .Config.Labels "org.pifleet.recipe" }}' "$base"; echo "$packages") \
    | cat - "$0" | sha256sum | cut -c1-16)
  have=$(docker image inspect -f '{{ index .Config.Labels "org.pifleet.recipe" }}' "$tag" 2>/dev/null || true)
  if [ "$have" = "$recipe" ]; then
    echo "container-image: $tag is current (recipe $recipe)"
    exit 0
  fi
  echo "container-image: building $tag from $base (recipe $recipe)"
  # As after apt-get on a Pi: the engine enabled with Debian's defaults, until the roles configure it. The
  # package lists are emptied and aged as in the base.
  # shellcheck disable=SC2086  # $packages is a list of words
  DOCKER_BUILDKIT=0 docker build -q --platform "linux/$arch" -t "$tag" --label "org.pifleet.recipe=$recipe" - \
    >/dev/null <<DOCKERFILE
FROM $base
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -q -y --no-install-recommends $packages \\
 && rm -rf /var/cache/apt/archives/*.deb /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* \\
 && touch -d @0 /var/lib/apt/lists
DOCKERFILE
  echo "container-image: built $tag ($(docker image inspect -f '{{.Architecture}} {{.Size}}' "$tag") bytes)"
  exit 0
fi

case "$profile" in
  systemd)
    # openssh-server: a flashed Pi has SSH on; the scale tier reaches its hosts over it, as a fleet is reached.
    packages=systemd,systemd-sysv,dbus,python3,python3-apt,procps,sudo,iproute2,kmod,ca-certificates,openssh-server
    changes=(--change 'ENV container=docker' --change 'CMD ["/sbin/init"]')
    ;;
  # Debian's numpy is built for the Debian arm64 baseline (some third-party arm64 wheels crash Pi 4s with
  # "Illegal instruction") and links the small reference BLAS instead of a bundled OpenBLAS.
  python)
    packages=python3-minimal,libpython3-stdlib,python3-numpy,ca-certificates
    changes=(--change 'CMD ["python3"]')
    ;;
  *) echo "container-image: unknown profile $profile" >&2; exit 2 ;;
esac

recipe=$(printf '%s\n' "$release" "$arch" "$mirror" "$packages" \
  | cat - "$0" "$here/../vm/vm-files/regenerate-ssh-host-keys.service" | sha256sum | cut -c1-16)
have=$(docker image inspect -f '{{ index .Config.Labels "org.pifleet.recipe" }}' "$tag" 2>/dev/null || true)
if [ "$have" = "$recipe" ]; then
  echo "container-image: $tag is current (recipe $recipe)"
  exit 0
fi

work=$(workdir_make pifleet-rootfs)
trap 'workdir_remove "$work"' EXIT
echo "container-image: building $tag with debootstrap (recipe $recipe)"
# QEMU_CPU: see vm-image.sh (no pointer authentication to emulate on a Cortex-A72).
QEMU_CPU=cortex-a72 debootstrap --arch="$arch" --variant=minbase --include="$packages" "$release" "$work/root" "$mirror" \
  >"$work/debootstrap.log" 2>&1 || { tail -30 "$work/debootstrap.log" >&2; exit 1; }

root="$work/root"
# Plain-http apt works from containers here (HTTPS is intercepted), and it is what the roles will use.
echo "deb $mirror $release main" >"$root/etc/apt/sources.list"
if [ "$profile" = systemd ]; then
  # Units that cannot work in a container and only slow the boot or fail it.
  for unit in systemd-remount-fs.service systemd-firstboot.service getty.target console-getty.service \
    systemd-udevd.service systemd-udev-trigger.service sys-kernel-config.mount sys-kernel-debug.mount; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
  done
  : >"$root/etc/machine-id"
  # The user Raspberry Pi Imager creates, with passwordless sudo as on the VM images; tools that reach a
  # container over SSH install its key when they start it (molecule/shared/containers/create.yml).
  chroot "$root" useradd -m -s /bin/bash -G sudo pi
  echo 'pi ALL=(ALL) NOPASSWD: ALL' >"$root/etc/sudoers.d/010_pi-nopasswd"
  chmod 0440 "$root/etc/sudoers.d/010_pi-nopasswd"
  # Each container made from the image gets its own SSH host keys at its first boot, as each VM does.
  rm -f "$root"/etc/ssh/ssh_host_*
  cp "$here/../vm/vm-files/regenerate-ssh-host-keys.service" "$root/etc/systemd/system/"
  ln -sf /etc/systemd/system/regenerate-ssh-host-keys.service \
    "$root/etc/systemd/system/multi-user.target.wants/regenerate-ssh-host-keys.service"
fi
if [ "$profile" = python ]; then
  # A runtime base: nothing here installs packages, converts charsets or runs test suites.
  rm -rf "$root"/usr/lib/python3/dist-packages/numpy/*/tests "$root"/usr/lib/python3/dist-packages/numpy/tests \
    "$root"/usr/lib/python3.*/test "$root"/usr/lib/*-linux-gnu/gconv "$root"/usr/bin/perl* \
    "$root"/usr/lib/*-linux-gnu/perl-base "$root"/usr/share/perl5 "$root"/usr/bin/apt* "$root"/usr/bin/sqv \
    "$root"/usr/lib/*-linux-gnu/libapt-* "$root"/usr/lib/apt "$root"/var/lib/apt "$root"/var/cache/apt \
    "$root"/usr/bin/localedef "$root"/usr/share/zoneinfo "$root"/usr/share/common-licenses
fi
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
  "$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/usr/share/info/* "$root"/var/log/*.log \
  "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old
# An emptied apt cache must look stale (as on an image flashed weeks after it was built), not fresh.
[ -d "$root/var/lib/apt/lists" ] && touch -d @0 "$root/var/lib/apt/lists"

platform="linux/${arch}"
tar -C "$root" -c . | docker import \
  --platform "$platform" \
  "${changes[@]}" \
  --change "LABEL org.pifleet.recipe=$recipe" \
  - "$tag" >/dev/null
# docker import records the daemon's architecture whatever --platform says: rewrite the saved config so
# `--platform linux/arm64` finds the image locally instead of asking a registry.
if [ "$(docker image inspect -f '{{.Architecture}}' "$tag")" != "$arch" ]; then
  old=$(docker image inspect -f '{{.Id}}' "$tag")
  docker save "$tag" | python3 "$here/image-arch.py" "$arch" | docker load -q >/dev/null
  docker rmi "$old" >/dev/null 2>&1 || true
fi
echo "container-image: built $tag ($(docker image inspect -f '{{.Architecture}} {{.Size}}' "$tag") bytes)"
