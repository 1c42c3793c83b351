#!/usr/bin/env bash
# Assemble the runtime image's whole root filesystem in DIR, inside the build stage: the interpreter, the
# standard library minus what a headless service never imports, numpy, the bot's dependencies (the bot itself
# is a layer of its own), the shared libraries all of that links, and nothing else — no shell, no coreutils, no
# package manager.
# Usage: slim-rootfs.sh DIR      (run as root in a stage FROM the base; the runtime stage is FROM scratch)
set -euo pipefail
root=${1:?usage: slim-rootfs.sh DIR}
mkdir -p "$root"

read -r python stdlib numpy < <(python3 -c '
import os, sys, sysconfig, numpy
print(os.path.realpath(sys.executable), sysconfig.get_paths()["stdlib"], os.path.dirname(numpy.__file__))')

# Merged-/usr symlinks (/lib -> usr/lib, ...) as on the base: the ELF interpreter path goes through them.
for link in bin sbin lib lib64; do
  if [ -L "/$link" ]; then ln -s "$(readlink "/$link")" "$root/$link"; fi
done

keep=(
  "$python" "$stdlib" /opt/gridbot /usr/local/bin/gridbot
  /usr/bin/env  # the entry script's #! line
)
case "$numpy" in /opt/gridbot/*) ;; *) keep+=("$numpy") ;; esac
for optional in /etc/python3* /usr/lib/locale/C.utf8 /etc/ssl/certs/ca-certificates.crt /usr/lib/ssl; do
  if [ -e "$optional" ]; then keep+=("$optional"); fi
done
# What a service never imports (REPL, docs, tests, GUIs, databases but sqlite3, the store's; asyncio, XML and
# multiprocessing: the bot is one sync process and ccxt's sync client needs none of them) and numpy's
# build-time files; `make image-test` runs the bot's every command on the result.
tar -C / -cf - \
  --exclude="${stdlib#/}/"{test,unittest,doctest.py,pydoc.py,pydoc_data,idlelib,tkinter,turtle.py,turtledemo} \
  --exclude="${stdlib#/}/"{ensurepip,venv,lib2to3,_pyrepl,curses,dbm,xmlrpc,asyncio,multiprocessing,xml} \
  --exclude="${stdlib#/}/__pycache__/"{doctest,pydoc,turtle}".*" \
  --exclude="${stdlib#/}/lib-dynload/"{_dbm,_gdbm,_curses,_curses_panel,readline,_tkinter}".*" \
  --exclude="${stdlib#/}/lib-dynload/"{_asyncio,_multiprocessing,_posixshmem,pyexpat,_elementtree}".*" \
  --exclude="${stdlib#/}/lib-dynload/"{_test,xx,_ctypes_test,_xxtestfuzz}"*" \
  --exclude="${numpy#/}/f2py" --exclude="${numpy#/}/"{'*.pyi','*.pxd'} \
  --exclude='*.h' --exclude='*.a' \
  "${keep[@]#/}" | tar -C "$root" -xf -
ln -sf "$(basename "$python")" "$root$(dirname "$python")/python3"

# Every shared library any kept ELF file loads, transitively (ldd lists the whole closure), copied as a
# regular file under its soname in its real directory (Debian's BLAS/LAPACK sit behind /etc/alternatives).
# ldd fails on the non-ELF files the search also finds (executable scripts): only its listing counts.
{ find "$root" -type f \( -name '*.so' -o -name '*.so.*' -o -perm -u+x \) -print0 | xargs -0 -n 50 ldd 2>/dev/null || true; } \
  | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && $2 ~ /^\(/ {print $1}' \
  | sort -u | while read -r lib; do
      dir=$(readlink -f "$(dirname "$lib")")
      mkdir -p "$root$dir"
      cp -L "$lib" "$root$dir/$(basename "$lib")"
    done

# Users without /usr/sbin/useradd: root and the bot's own (GRIDBOT_UID, the container contract's UID, passed by
# build.sh), neither with a login shell.
uid=${GRIDBOT_UID:?slim-rootfs.sh: GRIDBOT_UID, the uid of the bot, is not set}
mkdir -p "$root/etc" "$root/data"
printf 'root:x:0:0:root:/root:/nonexistent\ngridbot:x:%s:%s:gridbot:/data:/nonexistent\n' "$uid" "$uid" >"$root/etc/passwd"
printf 'root:x:0:\ngridbot:x:%s:\n' "$uid" >"$root/etc/group"
install -d -m 1777 "$root/tmp"
chown "$uid:$uid" "$root/data"
chmod 0750 "$root/data"
