# Sourced by the image builders (tools/images/container-image.sh, tools/vm/vm-image.sh): a scratch
# directory under /var/tmp that is removed on exit, whatever debootstrap left in it.
# Usage: . tools/lib/workdir.sh; work=$(workdir_make PREFIX); trap 'workdir_remove "$work"' EXIT

workdir_make() {
  mktemp -d "/var/tmp/$1.XXXXXX"
}

workdir_remove() {
  # An interrupted debootstrap leaves proc/sys mounted in the chroot: unmount, and never delete across mounts.
  awk -v w="$1/" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l
  rm -rf --one-file-system "$1"
}
