#!/usr/bin/env bash
# The demo fleet: a Pi 5-like trixie VM with an NVMe drive, doubling as the fleet's monitoring host, and a Pi
# 4-like bookworm VM (tools/demo/fleet.yml), started by the VM scenarios' own create playbook, converged with
# playbooks/site.yml and left running; VictoriaMetrics and Alertmanager are forwarded to this machine's loopback.
#   demo-fleet.sh up      build what is missing, boot both VMs, run site.yml and status.yml
#   demo-fleet.sh down    stop both VMs and remove their disks
# The inventory lands in .cache/demo/hosts.yml; the test fleet's group_vars and host_vars (the VMs' differences
# from real Pis, the project's pi4/pi5 group vars, live trading on local exchanges with vault-held keys) come
# with it. The exchanges run on this machine's loopback until `down` (ports 8900/8901: one fleet at a time).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
project=$(cd "$here/../.." && pwd)
cache=${PIFLEET_CACHE:-$HOME/.cache/pifleet}
demo=$project/.cache/demo
inventory=$demo/hosts.yml
export ANSIBLE_CONFIG="$project/ansible.cfg"
# The test fleet's vault (its exchange keys): a test password, committed beside them.
export ANSIBLE_VAULT_PASSWORD_FILE="$project/molecule/fleet/vault-password"
# The controller's own Python (the venv's), not whatever python3 the PATH finds first.
vms=(-i localhost, -e 'ansible_python_interpreter={{ ansible_playbook_python }}' -e "@$here/fleet.yml" -e "vm_state_dir=$demo")

up() {
  mkdir -p "$demo"
  echo "demo: booting demo-pi5 (trixie, NVMe) and demo-pi4 (bookworm) under qemu-system-aarch64;"
  echo "demo: VM images are built once from Debian's archive, then cached in $cache/images"
  ansible-playbook "${vms[@]}" -e "vm_inventory=$inventory" "$project/tools/vm/create.yml"
  ln -sfn "$project/molecule/fleet/inventory/group_vars" "$demo/group_vars"
  ln -sfn "$project/molecule/fleet/inventory/host_vars" "$demo/host_vars"
  export ANSIBLE_STRATEGY_PLUGINS="$project/tools/ansible-plugins/strategy" ANSIBLE_STRATEGY=mitogen_linear
  # New VMs behind reused names: never trust cached facts; TCG VMs may take a minute to answer.
  export ANSIBLE_GATHERING=implicit ANSIBLE_TIMEOUT=120
  # Loopback-only VMs with host keys made at first boot (Mitogen does not read ssh_common_args for this).
  export ANSIBLE_HOST_KEY_CHECKING=False
  ansible-playbook -i "$inventory" -e "vm_state_dir=$demo" "$project/molecule/fleet/prepare.yml"
  ansible-playbook -i "$inventory" "$project/playbooks/site.yml"
  ansible-playbook -i "$inventory" "$project/playbooks/status.yml"
  pi5_port=$(cat "$cache/vms/demo-pi5/port")
  pi4_port=$(cat "$cache/vms/demo-pi4/port")
  vm=http://127.0.0.1:$(cat "$cache/vms/demo-pi5/forward-8428")
  alertmanager=http://127.0.0.1:$(cat "$cache/vms/demo-pi5/forward-9093")
  cat <<DONE

demo: the fleet is trading live. demo-pi5's bot trades BTC/USDT, demo-pi4's ETH/USDT, each on its own account
of a local exchange on this machine (http://127.0.0.1:8900 and :8901, a market hour a minute; the exchange's
view: curl 127.0.0.1:8900/admin/orders, /admin/trades, /admin/balances).
  make status                                       the fleet table again (equity, round trips, fills move)
  $vm/targets                  VictoriaMetrics on demo-pi5: every target scraped (its query API: /api/v1/query)
  $alertmanager/api/v2/alerts            Alertmanager: what fires now (try playbooks/halt.yml)
  on demo-pi5: sudo journalctl -D /var/log/journal/remote _HOSTNAME=demo-pi4 CONTAINER_NAME=gridbot
                                                    demo-pi4's bot log, as shipped to the monitoring host
  ssh -p $pi5_port -i $cache/ssh/id_ed25519 pi@127.0.0.1    a shell on demo-pi5 (demo-pi4: port $pi4_port)
  ansible-playbook -i $inventory playbooks/site.yml    re-run: changes nothing
                                                    (ANSIBLE_VAULT_PASSWORD_FILE=molecule/fleet/vault-password)
  make demo-destroy                                 stop both VMs and remove their disks
DONE
}

down() {
  ansible-playbook "${vms[@]}" "$project/tools/vm/destroy.yml"
  rm -rf "$demo"
  echo "demo: fleet removed"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
