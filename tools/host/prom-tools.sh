#!/usr/bin/env bash
# promtool, amtool, Alertmanager itself (prometheus-alertmanager), vmalert, victoria-metrics and nginx from Debian's
# own packages (prometheus, prometheus-alertmanager, victoria-metrics, nginx), unpacked into a cache and never
# installed: the unit tests check the monitoring role's rules and Alertmanager config with the tools of the versions
# the Pis run, send notifications through a real Alertmanager, run the status table's queries against a real
# VictoriaMetrics, and knock on the front door (nginx, usr/sbin in its package, kept in usr/bin here). Prints the
# directory that holds them. Idempotent: a second run only reuses the cache.
# Usage: tools/host/prom-tools.sh            (PROM_TOOLS_CACHE=DIR to put the cache elsewhere)
set -euo pipefail

cache="${PROM_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pifleet/prom-tools}"
bin="$cache/root/usr/bin"
packages=(prometheus prometheus-alertmanager victoria-metrics nginx)
tools=(promtool amtool prometheus-alertmanager vmalert victoria-metrics nginx)

# Debian's Alertmanager reads its default message templates from /usr/share, not from its binary.
templates=usr/share/prometheus/alertmanager

have_tools() {
  local tool
  for tool in "${tools[@]}"; do [ -x "$bin/$tool" ] || return 1; done
  [ -f "$cache/root/$templates/default.tmpl" ]
}

if have_tools; then
  echo "$bin"
  exit 0
fi

fail() {
  echo "prom-tools: $*" >&2
  exit 1
}
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || fail "needs apt-get and dpkg-deb (a Debian host)"

mkdir -p "$cache"
# One download at a time (parallel test sessions); the winner's tools serve the others.
exec 9>"$cache/.lock"
flock 9
if have_tools; then
  echo "$bin"
  exit 0
fi

work=$(mktemp -d "$cache/work.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/debs" "$work/lists/partial" "$work/apt/archives/partial"
apt=(apt-get -q)
# As root, apt downloads as its _apt user, who cannot write under /root: download as root (apt would, warning).
if [ "$(id -u)" -eq 0 ]; then apt+=(-o APT::Sandbox::User=root); fi

# The machine's package lists first; when they are stale (the mirror dropped that version after a point release),
# a private copy of the lists, refreshed here: the machine's own apt state is never written.
if ! (cd "$work/debs" && "${apt[@]}" download "${packages[@]}") >&2; then
  echo "prom-tools: retrying with freshly downloaded package lists of our own" >&2
  private=(-o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/apt")
  "${apt[@]}" "${private[@]}" update >&2 || fail "apt-get update failed: is deb.debian.org reachable?"
  (cd "$work/debs" && "${apt[@]}" "${private[@]}" download "${packages[@]}") >&2 ||
    fail "apt-get download ${packages[*]} failed: is deb.debian.org reachable?"
fi

for deb in "$work"/debs/*.deb; do
  dpkg-deb -x "$deb" "$work/root"
done
mv "$work/root/usr/sbin/nginx" "$work/root/usr/bin/nginx"
for tool in "${tools[@]}"; do
  [ -x "$work/root/usr/bin/$tool" ] || fail "the packages ${packages[*]} hold no usr/bin/$tool"
done
"$work/root/usr/bin/promtool" --version >/dev/null 2>&1 || fail "the unpacked promtool does not run on this machine"

# Only what the tests run is kept, and Alertmanager's templates (prometheus itself and the docs are most of the
# packages' size).
for file in "$work"/root/usr/bin/*; do
  [[ " ${tools[*]} " == *" ${file##*/} "* ]] || rm -f "$file"
done
mv "$work/root/$templates" "$work/templates"
rm -rf "$work/root/usr/share" "$work/root/usr/sbin" "$work/root/etc" "$work/root/lib" "$work/root/var" "$work/templates/ui" \
  "$work/templates/no-ui" "$work/templates/generate-ui.sh"
mkdir -p "$work/root/${templates%/*}"
mv "$work/templates" "$work/root/$templates"
for deb in "$work"/debs/*.deb; do
  dpkg-deb -W --showformat='${Package} ${Version}\n' "$deb"
done >"$work/root/versions"
rm -rf "$cache/root"
mv "$work/root" "$cache/root"
echo "$bin"
