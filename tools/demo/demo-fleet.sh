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
known_hosts=$demo/known_hosts
export ANSIBLE_CONFIG="$project/ansible.cfg"
# The test fleet's vault (its exchange keys): a test password, committed beside them.
export ANSIBLE_VAULT_PASSWORD_FILE="$project/molecule/fleet/vault-password"
# The controller's own Python (the venv's), not whatever python3 the PATH finds first.
vms=(-i localhost, -e 'ansible_python_interpreter={{ ansible_playbook_python }}' -e "@$here/fleet.yml" -e "vm_state_dir=$demo")

up() {
  mkdir -p "$demo"
  echo "demo: booting demo-pi5 (trixie, NVMe) and demo-pi4 (bookworm) under qemu-system-aarch64;"
  echo "demo: VM images are built once from Debian's archive, then cached in $cache/images"
  ansible-playbook "${vms[@]}" -e "vm_inventory=$inventory" -e "vm_known_hosts=$known_hosts" \
    "$project/tools/vm/create.yml"
  ln -sfn "$project/molecule/fleet/inventory/group_vars" "$demo/group_vars"
  ln -sfn "$project/molecule/fleet/inventory/host_vars" "$demo/host_vars"
  (
    export ANSIBLE_STRATEGY_PLUGINS="$project/tools/ansible-plugins/strategy" ANSIBLE_STRATEGY=mitogen_linear
    # New VMs behind reused names: never trust cached facts; TCG VMs may take a minute to answer.
    export ANSIBLE_GATHERING=implicit ANSIBLE_TIMEOUT=120
    ansible-playbook -i "$inventory" -e "vm_state_dir=$demo" "$project/molecule/fleet/prepare.yml"
    ansible-playbook -i "$inventory" "$project/playbooks/site.yml"
  )
  pi5_port=$(cat "$cache/vms/demo-pi5/port")
  pi4_port=$(cat "$cache/vms/demo-pi4/port")
  door=https://127.0.0.1:$(cat "$cache/vms/demo-pi5/forward-8443")
  door_password=$(ansible -i "$inventory" demo-pi5 -o -m ansible.builtin.debug \
    -a 'msg={{ monitoring_frontdoor_logins.ops }}' | sed -n 's/.*"msg": "\(.*\)"}.*/\1/p')
  [ -n "$door_password" ] || fail "the front door's login could not be read from the inventory's vault"
  curl_door="curl -fsS --cacert $demo/pki/ca.crt -u ops:$door_password"
  ssh_pi5="ssh -p $pi5_port -i $cache/ssh/id_ed25519 -o UserKnownHostsFile=$known_hosts pi@127.0.0.1"
  ssh_pi5_batch="ssh -q -o BatchMode=yes ${ssh_pi5#ssh }"  # -q: no login banner among the checks
  journal="sudo journalctl -D /var/log/journal/remote _HOSTNAME=demo-pi4 CONTAINER_NAME=gridbot"
  rerun="ansible-playbook -i $inventory --vault-password-file molecule/fleet/vault-password playbooks/site.yml"

  # What follows is printed for a person to type into a new shell: each is tried that way first.
  echo "demo: trying the commands it prints, each in a new shell's environment"
  try "make status" "make status"
  echo "demo: re-running site.yml as printed below (its log: $demo/rerun.log)"
  try "the re-run of site.yml" ". .venv/bin/activate && $rerun" >"$demo/rerun.log"
  if grep -Eq 'changed=[1-9]' "$demo/rerun.log"; then
    fail "the re-run of site.yml changed what the first run had set ($demo/rerun.log)"
  fi
  try "a shell on demo-pi5" "$ssh_pi5_batch true"
  [ -n "$(fresh "$ssh_pi5_batch $journal -q -n 1")" ] \
    || fail "demo-pi4's bot log has not reached demo-pi5 ($journal)"
  for url in "$door/api/v1/targets" "$door/alertmanager/api/v2/alerts"; do
    try "$url" "$curl_door -o /dev/null $url"
  done
  for url in http://127.0.0.1:8900/admin/orders http://127.0.0.1:8901/admin/trades; do
    try "$url" "curl -fsS -o /dev/null $url"
  done
  cat <<DONE

demo: the fleet is trading live. demo-pi5's bot trades BTC/USDT, demo-pi4's ETH/USDT, each on its own account
of a local exchange on this machine (http://127.0.0.1:8900 and :8901, a market hour a minute; the exchange's
view: curl 127.0.0.1:8900/admin/orders, /admin/trades, /admin/balances).
In a new shell, from $project:
  make status                                       the fleet table again (equity, round trips, fills move)
  $door/api/v1/targets     demo-pi5's front door (login ops, password $door_password; TLS of the
                                             fleet's CA, $demo/pki/ca.crt): every target scraped
  $door/alertmanager/api/v2/alerts   what fires now (try playbooks/halt.yml); the query API: /api/v1/query
  e.g. $curl_door '$door/api/v1/query?query=gridbot_equity_quote'
  $ssh_pi5
                                                    a shell on demo-pi5 (demo-pi4: port $pi4_port)
  on demo-pi5: $journal
                                                    demo-pi4's bot log, as shipped to the monitoring host
  . .venv/bin/activate
  $rerun
                                                    re-run: changes nothing (the demo just tried it)
  make demo-destroy                                 stop both VMs and remove their disks
DONE
}

# A command as a person would type it into a new shell in the project's directory: none of this script's
# environment (its Ansible settings, the vault password file) is there to help it.
fresh() {
  (cd "$project" && env -i HOME="$HOME" PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 \
    ${PIFLEET_CACHE:+PIFLEET_CACHE="$PIFLEET_CACHE"} bash -c "$1")
}

try() {
  fresh "$2" || fail "$1 fails in a new shell: $2"
}

fail() {
  echo "demo: $1; the VMs are left running (make demo-destroy removes them)" >&2
  exit 1
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
