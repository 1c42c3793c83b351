#!/bin/sh
# A stand-in for an engine package with an upgrade, on this host: pifleet-canary 1 installed, 2 in a local
# repository apt knows of. Version 2's postinst logs when dpkg runs it and takes 3 s, so that upgrades on two
# hosts at once would overlap in the hosts' logs.
set -e
d=$(mktemp -d)
for v in 1 2; do
  mkdir -p "$d/$v/DEBIAN"
  cat >"$d/$v/DEBIAN/control" <<CONTROL
Package: pifleet-canary
Version: $v
Architecture: all
Maintainer: pifleet tests <tests@pifleet.invalid>
Description: an engine package with an upgrade
CONTROL
done
cat >"$d/2/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
echo "start $(date +%s.%N)" >>/var/log/pifleet-canary.log
sleep 3
echo "end $(date +%s.%N)" >>/var/log/pifleet-canary.log
POSTINST
chmod 0755 "$d/2/DEBIAN/postinst"
mkdir -p /srv/canary
deb=/srv/canary/pifleet-canary_2_all.deb
dpkg-deb --root-owner-group -b "$d/1" "$d/canary_1.deb" >/dev/null
dpkg-deb --root-owner-group -b "$d/2" "$deb" >/dev/null
dpkg -i "$d/canary_1.deb" >/dev/null
cat >/srv/canary/Packages <<PACKAGES
Package: pifleet-canary
Version: 2
Architecture: all
Filename: ./pifleet-canary_2_all.deb
Size: $(stat -c %s "$deb")
SHA256: $(sha256sum "$deb" | cut -d' ' -f1)
Description: an engine package with an upgrade

PACKAGES
echo 'deb [trusted=yes] file:/srv/canary ./' >/etc/apt/sources.list.d/pifleet-canary.list
# This source's lists alone: the roles refresh apt's lists only when they are older than a day.
apt-get update -qq -o Dir::Etc::sourcelist=sources.list.d/pifleet-canary.list -o Dir::Etc::sourceparts=- \
  -o APT::Get::List-Cleanup=0
rm -rf "$d"
