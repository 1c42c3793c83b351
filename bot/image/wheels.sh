#!/usr/bin/env bash
# The wheels of the gridbot image's dependencies, for one architecture: exactly as bot/image/requirements.lock
# pins them, each checked against the sha256 the lock holds for it (pip --require-hashes): a wheel that differs
# from the one locked, or a dependency the lock does not pin, fails the build naming it. `make lock` writes the
# lock (bot/image/lock.py); build.sh builds the bot's own wheel beside them.
# Usage: bot/image/wheels.sh ARCH PYVER DEST       e.g. wheels.sh arm64 313 .cache/image/arm64/wheels
set -euo pipefail

arch=${1:?usage: wheels.sh arm64|amd64 PYVER DEST}
pyver=${2:?usage: wheels.sh arm64|amd64 PYVER DEST}
dest=${3:?usage: wheels.sh arm64|amd64 PYVER DEST}
case "$arch" in arm64) plat=aarch64 ;; amd64) plat=x86_64 ;; *) echo "wheels.sh: ARCH must be arm64 or amd64" >&2; exit 2 ;; esac
top=$(cd "$(dirname "$0")/../.." && pwd)
py=${PYTHON:-$top/.venv/bin/python}
lock=$top/bot/image/requirements.lock

locked=$(sed -n 's/^# python: //p' "$lock")
[ "$locked" = "$pyver" ] || {
  echo "wheels.sh: $lock pins wheels for cp$locked, the base image's Python is cp$pyver: run make lock" >&2; exit 2; }
platforms=(--platform "manylinux_2_28_$plat" --platform "manylinux_2_17_$plat" --platform "manylinux2014_$plat")
mkdir -p "$dest"
"$py" -m pip download -q --require-hashes --only-binary=:all: "${platforms[@]}" --python-version "$pyver" \
  --implementation cp -d "$dest" -r "$lock" >&2
