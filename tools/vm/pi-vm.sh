#!/usr/bin/env bash
# Pi-like arm64 VMs under qemu-system-aarch64 (TCG), managed by name.
#   pi-vm.sh start NAME BASE_IMAGE [NVME_SIZE] [lan] [PORTS]
#                                     copy-on-write disk + NVMe disk (default 8G, 0 = none), boot loop in
#                                     the background; prints the SSH port (127.0.0.1 only). With `lan`, a second
#                                     NIC on the shared test LAN (lan.sh up first; its MAC in DIR/lan-mac).
#                                     PORTS (comma-separated guest TCP ports) are forwarded from free ports of
#                                     127.0.0.1 as SSH is, each one's in DIR/forward-<guest port>
#   pi-vm.sh wait NAME [TIMEOUT]      until SSH answers and systemd finished booting
#   pi-vm.sh stop NAME                stop the VM and remove its disks and processes (its boots.log, last
#                                     console.log and earlier boots' console-all.log kept in CACHE/vm-logs)
#   pi-vm.sh restore-boot NAME        power the VM off, put cmdline.txt.pifleet-prev and config.txt.pifleet-prev
#                                     back on its boot partition from outside (as from another machine with the
#                                     SD card in a reader), and boot it again
#   pi-vm.sh boot-loop DIR            (internal) the firmware loop
# Like Pi firmware, every (re)boot reads cmdline.txt, kernel8.img and initramfs8 from the disk's boot
# partition, so an edited cmdline.txt takes effect only after a reboot. qemu runs with -no-reboot: a guest
# reboot (or a watchdog reset) ends qemu and the loop boots again; a poweroff ends the loop.
# A boot can stall under TCG on a loaded machine (seen: a console silent and SSH never up for 20 min, where the
# next boot of the same disk took 4; a guest reboot under Ansible's reboot module that never came back in 15): a
# boot without SSH 4 minutes in whose console has been silent for 3 is power-cycled, as one would a Pi
# (boots.log says so). Once a boot has answered SSH, hangs are the guest's watchdog's to reset.
# While any VM runs, an SNTP responder serves this machine's clock on 127.0.0.1:123, which the guests
# reach as 10.0.2.2 (no public NTP server is reachable from the test network).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

cache=${PIFLEET_CACHE:-$HOME/.cache/pifleet}
key="$cache/ssh/id_ed25519"
vm_dir() { echo "$cache/vms/$1"; }
ssh_vm() {
  local dir=$1; shift
  ssh -q -i "$key" -p "$(cat "$dir/port")" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o ConnectTimeout=5 -o BatchMode=yes pi@127.0.0.1 "$@"
}

# Ends the VM's qemu, as a pulled plug would (the loop decides what comes next).
pull_plug() { pkill -f "hostfwd=tcp:127.0.0.1:$1-:22"; }

# QEMU's user network accepts the connection itself; the guest's sshd, forked and re-executed under TCG on a
# loaded host, can take seconds to send its banner.
ssh_banner() {
  timeout 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && head -c 4 <&3" 2>/dev/null | grep -q '^SSH-'
}

# What QEMU says of the guest's state (running, paused, io-error...), for a boot that stalled.
vm_status() {
  python3 - "$1" <<'PY' 2>/dev/null || echo unknown
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()
for cmd in ("qmp_capabilities", "query-status"):
    f.write(json.dumps({"execute": cmd}) + "\n")
    f.flush()
    while "return" not in (answer := json.loads(f.readline())) and "error" not in answer:
        pass
print(answer.get("return", answer).get("status", answer))
PY
}

# Run beside one boot's qemu, in the VM's directory.
stall_watch() {
  local port=$1 boot=$2 start=$SECONDS silent
  while sleep 10; do
    ssh_banner "$port" && return 0
    silent=$(($(date +%s) - $(stat -c %Y console.log 2>/dev/null || date +%s)))
    if [ $((SECONDS - start)) -ge 240 ] && [ "$silent" -ge 180 ] && [ ! -e hold ]; then
      echo "power-cycled boot $boot: no SSH $((SECONDS - start))s in, console silent ${silent}s, QEMU's" \
        "status $(vm_status qmp.sock):" \
        "$(tail -c 300 console.log | tr -s '\r\n' '  ')" >>boots.log
      touch reset
      pull_plug "$port" || rm -f reset
      return 0
    fi
  done
}

boot_loop() {
  local dir=$1 port boots=0 rc watch nvme=() lan=() wrap=() forwards="" f
  port=$(cat "$dir/port")
  cd "$dir"
  for f in forward-*; do
    [ -f "$f" ] && forwards+=",hostfwd=tcp:127.0.0.1:$(cat "$f")-:${f#forward-}"
  done
  [ -f nvme.qcow2 ] && nvme=(-drive if=none,id=nvm,file=nvme.qcow2,format=qcow2,cache=unsafe
    -device nvme,serial=pifleet-nvme0,drive=nvm)
  if [ -f lan-tap ]; then
    wrap=("$here/netns-tap.py" pifleet-lan "$(cat lan-tap)" --)
    lan=(-netdev "tap,id=lan,fd={fd}" -device "virtio-net-pci,netdev=lan,mac=$(cat lan-mac),romfile=")
  fi
  while true; do
    boots=$((boots + 1))
    rc=0
    rm -f boot.img
    qemu-img dd -f qcow2 -O raw bs=1M skip=1 count=256 if=disk.qcow2 of=boot.img
    mcopy -n -o -i boot.img ::cmdline.txt ::kernel8.img ::initramfs8 .
    echo "boot $boots $(date -u +%FT%TZ): $(head -n1 cmdline.txt)" >>boots.log
    rm -f reset
    stall_watch "$port" "$boots" &
    watch=$!
    # TCG runs 2 vCPUs on 2 host threads; cortex-a72 is the Pi 4 core.
    "${wrap[@]}" qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m "${PIFLEET_VM_MEMORY:-2048}" \
      -accel tcg,thread=multi -no-reboot -nographic -monitor none -qmp unix:qmp.sock,server=on,wait=off \
      -kernel kernel8.img -initrd initramfs8 -append "$(head -n1 cmdline.txt)" \
      -drive if=none,id=sd,file=disk.qcow2,format=qcow2,cache=unsafe,discard=unmap \
      -device virtio-blk-pci,drive=sd \
      "${nvme[@]}" \
      -device i6300esb \
      -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$port-:22$forwards" -device virtio-net-pci,netdev=n0,romfile= \
      "${lan[@]}" \
      -serial file:console.log >qemu.log 2>&1 || rc=$?
    kill "$watch" 2>/dev/null || true
    wait "$watch" 2>/dev/null || true
    cat console.log >>console-all.log
    # restore-boot holds the loop while it edits the disk from outside.
    if [ -e hold ]; then
      echo "powered off after boot $boots: boot partition edited from outside" >>boots.log
      while [ -e hold ]; do sleep 1; done
      continue
    fi
    # stall_watch power-cycled a boot that never answered SSH: boot again, as after a pulled plug.
    [ -e reset ] && continue
    # A guest reboot or watchdog reset ends qemu with 0 (-no-reboot); anything else is qemu failing.
    if [ "${rc:-0}" -ne 0 ]; then
      echo "qemu failed (exit $rc) on boot $boots: $(tail -n 3 qemu.log | tr '\n' ' ')" >>boots.log
      exit 1
    fi
    if grep -q "reboot: Power down" console.log; then
      echo "poweroff after boot $boots" >>boots.log
      break
    fi
  done
}

ntp_pid="$cache/ntp-responder.pid"
ntp_start() {
  [ -f "$ntp_pid" ] && kill -0 "$(cat "$ntp_pid")" 2>/dev/null && return 0
  setsid python3 "$(dirname "$0")/ntp-responder.py" >/dev/null 2>&1 </dev/null &
  echo $! >"$ntp_pid"
}
ntp_stop_if_idle() {
  compgen -G "$cache/vms/*/loop.pid" >/dev/null && return 0
  [ -f "$ntp_pid" ] && kill "$(cat "$ntp_pid")" 2>/dev/null || true
  rm -f "$ntp_pid"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cmd=${1:-}
case "$cmd" in
  start)
    name=${2:?name}; base=${3:?base image}; nvme_size=${4:-8G}; lan=${5:-}; forward=${6:-}
    dir=$(vm_dir "$name")
    ntp_start
    [ -e "$dir/loop.pid" ] && kill -0 "$(cat "$dir/loop.pid")" 2>/dev/null && { cat "$dir/port"; exit 0; }
    rm -rf "$dir"; mkdir -p "$dir"
    qemu-img create -q -f qcow2 -F qcow2 -b "$base" "$dir/disk.qcow2"
    [ "$nvme_size" = 0 ] || qemu-img create -q -f qcow2 "$dir/nvme.qcow2" "$nvme_size"
    free_port >"$dir/port"
    for p in ${forward//,/ }; do free_port >"$dir/forward-$p"; done
    if [ "$lan" = lan ]; then
      "$here/lan.sh" tap "$name" >"$dir/lan-tap"
      printf '52:54:00:77:%s:%s\n' $(printf '%s' "$name" | md5sum | sed 's/\(..\)\(..\).*/\1 \2/') >"$dir/lan-mac"
    fi
    # All CPUs, whatever the caller was pinned to (Mitogen pins Ansible's workers, and children inherit that).
    taskset -c "0-$(($(nproc --all) - 1))" setsid "$0" boot-loop "$dir" >"$dir/loop.log" 2>&1 </dev/null &
    echo $! >"$dir/loop.pid"
    cat "$dir/port"
    ;;
  boot-loop) boot_loop "${2:?dir}" ;;
  wait)
    dir=$(vm_dir "${2:?name}"); timeout=${3:-600}
    deadline=$((SECONDS + timeout))
    until ssh_vm "$dir" true 2>/dev/null; do
      kill -0 "$(cat "$dir/loop.pid")" 2>/dev/null || { echo "pi-vm: ${2} is not running" >&2; tail -20 "$dir/console.log" >&2; exit 1; }
      [ $SECONDS -lt $deadline ] || { echo "pi-vm: no SSH on ${2} after ${timeout}s" >&2; tail -20 "$dir/console.log" >&2; exit 1; }
      sleep 2
    done
    ssh_vm "$dir" systemctl is-system-running --wait >/dev/null || true
    ;;
  restore-boot)
    dir=$(vm_dir "${2:?name}")
    touch "$dir/hold"
    # again until the loop says so: a qemu started between two boots gets the same
    until grep -q "^powered off after boot" <(tail -n1 "$dir/boots.log"); do
      pull_plug "$(cat "$dir/port")" || true
      sleep 1
    done
    # The FAT boot partition: 256 MiB at 1 MiB (tools/vm/vm-image.sh).
    work=$(mktemp -d)
    qemu-img dd -f qcow2 -O raw bs=1M skip=1 count=256 if="$dir/disk.qcow2" of="$work/boot.img"
    for f in cmdline.txt config.txt; do
      mcopy -n -o -i "$work/boot.img" "::$f.pifleet-prev" "$work/$f"
      mcopy -o -i "$work/boot.img" "$work/$f" "::$f"
    done
    qemu-io -f qcow2 -c "write -q -s $work/boot.img 1M 256M" "$dir/disk.qcow2"
    rm -rf "$work" "$dir/hold"
    ;;
  stop)
    dir=$(vm_dir "${2:?name}")
    if [ -f "$dir/loop.pid" ]; then
      pid=$(cat "$dir/loop.pid")
      kill -- -"$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    pull_plug "$(cat "$dir/port" 2>/dev/null || echo none)" 2>/dev/null || true
    # What a failed run needs to be read after its VMs are gone (make test prints them when the fleet fails).
    mkdir -p "$cache/vm-logs"
    for f in boots.log console.log console-all.log; do [ ! -f "$dir/$f" ] || cp "$dir/$f" "$cache/vm-logs/${2}.$f"; done
    rm -rf "$dir"
    ntp_stop_if_idle
    ;;
  *) echo "usage: $0 start NAME BASE [NVME_SIZE] [lan] | wait NAME [TIMEOUT] | restore-boot NAME | stop NAME" >&2; exit 2 ;;
esac
