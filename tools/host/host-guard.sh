#!/usr/bin/env bash
# Prove the tests left this machine alone: kernel VM settings, swap and the cgroup mounts must be
# the same after the test run as before. Usage: host-guard.sh snapshot FILE | host-guard.sh compare FILE
set -euo pipefail

state() {
  echo "swappiness $(cat /proc/sys/vm/swappiness)"
  for k in /proc/sys/vm/overcommit_memory /proc/sys/vm/dirty_ratio /proc/sys/vm/min_free_kbytes; do
    echo "$k $(cat "$k")"
  done
  echo "swaps:"; tail -n +2 /proc/swaps | awk '{print $1, $2, $3}'
  echo "cgroup mounts:"; findmnt -rn -o TARGET,FSTYPE,OPTIONS -R /sys/fs/cgroup
  echo "cgroup top level:"; ls /sys/fs/cgroup
}

case "${1:-}" in
  snapshot) state >"${2:?file}" ;;
  compare)
    if ! diff -u "${2:?file}" <(state); then
      echo "host-guard: the test run changed this machine (diff above)" >&2
      exit 1
    fi
    echo "host-guard: vm.*, swap and /sys/fs/cgroup unchanged"
    ;;
  *) echo "usage: $0 snapshot|compare FILE" >&2; exit 2 ;;
esac
