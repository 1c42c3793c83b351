#!/usr/bin/env bash
# The demo fleet: a Pi 5-like trixie VM with an NVMe drive and a Pi 4-like bookworm VM, converged with
# playbooks/site.yml from a plain inventory and left running.
#   demo-fleet.sh up      build what is missing, boot both VMs, run site.yml and status.yml
#   demo-fleet.sh down    stop both VMs and remove their disks
# The inventory lands in .cache/demo/hosts.yml; the test fleet's group_vars (the VMs' differences from real
# Pis, and the project's pi4/pi5 group vars) come with it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
project=$(cd "$here/../.." && pwd)
cache=${PIFLEET_CACHE:-$HOME/.cache/pifleet}
demo=$project/.cache/demo
inventory=$demo/hosts.yml

up() {
  mkdir -p "$demo"
  echo "demo: VM images (built once from Debian's archive, then cached in $cache/images)"
  "$here/vm-image.sh" trixie >"$demo/trixie.image" &
  "$here/vm-image.sh" bookworm >"$demo/bookworm.image"
  wait $!
  echo "demo: booting demo-pi5 (trixie, NVMe) and demo-pi4 (bookworm) under qemu-system-aarch64"
  pi5_port=$("$here/pi-vm.sh" start demo-pi5 "$(tail -n1 "$demo/trixie.image")" 8G)
  pi4_port=$("$here/pi-vm.sh" start demo-pi4 "$(tail -n1 "$demo/bookworm.image")" 0)
  "$here/pi-vm.sh" wait demo-pi5 900
  "$here/pi-vm.sh" wait demo-pi4 900
  cat >"$inventory" <<INVENTORY
# The demo fleet (molecule/shared/demo-fleet.sh). Remove it with: make demo-destroy
pifleet:
  vars:
    ansible_host: 127.0.0.1
    ansible_user: pi
    ansible_ssh_private_key_file: $cache/ssh/id_ed25519
    # Each VM makes new host keys at first boot.
    ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
  children:
    pi5:
      hosts:
        demo-pi5: {ansible_port: $pi5_port}
    pi4:
      hosts:
        demo-pi4: {ansible_port: $pi4_port}
INVENTORY
  ln -sfn "$project/molecule/fleet/inventory/group_vars" "$demo/group_vars"
  export ANSIBLE_CONFIG="$project/ansible.cfg"
  export ANSIBLE_STRATEGY_PLUGINS="$here/plugins/strategy" ANSIBLE_STRATEGY=mitogen_linear
  # New VMs behind reused names: never trust cached facts; TCG VMs may take a minute to answer.
  export ANSIBLE_GATHERING=implicit ANSIBLE_TIMEOUT=120
  # Loopback-only VMs with host keys made at first boot (Mitogen does not read ssh_common_args for this).
  export ANSIBLE_HOST_KEY_CHECKING=False
  ansible-playbook -i "$inventory" "$project/molecule/fleet/prepare.yml"
  ansible-playbook -i "$inventory" "$project/playbooks/site.yml"
  ansible-playbook -i "$inventory" "$project/playbooks/status.yml"
  cat <<DONE

demo: the fleet is running. Each VM runs gridbot in paper mode on the embedded replay data.
  make status                                       the fleet table again
  ssh -p $pi5_port -i $cache/ssh/id_ed25519 pi@127.0.0.1    a shell on demo-pi5 (demo-pi4: port $pi4_port)
  ansible-playbook -i $inventory playbooks/site.yml    re-run: changes nothing
  make demo-destroy                                 stop both VMs and remove their disks
DONE
}

down() {
  "$here/pi-vm.sh" stop demo-pi5
  "$here/pi-vm.sh" stop demo-pi4
  rm -rf "$demo"
  echo "demo: fleet removed"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
