#!/usr/bin/env bash
# Build the gridbot image for one architecture on the controller, and export it for shipping.
# Usage: bot/image/build.sh ARCH [BASE]       ARCH: arm64 | amd64; BASE defaults to pifleet/python:trixie-ARCH
# Output: image gridbot:VERSION-ARCH (+ gridbot:latest-ARCH), and
#         .cache/image/gridbot-VERSION-ARCH.tar.zst with its sha256 (.sha256) and image ID (.id) beside it
set -euo pipefail

arch=${1:?usage: build.sh arm64|amd64 [BASE]}
case "$arch" in arm64) plat=aarch64 ;; amd64) plat=x86_64 ;; *) echo "build.sh: ARCH must be arm64 or amd64" >&2; exit 2 ;; esac
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
py=${PYTHON:-.venv/bin/python}
version=$("$py" -c 'import gridbot; print(gridbot.__version__)')
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
base=${2:-pifleet/python:trixie-$arch}
# The container's uid has one source, the container contract (which the deploy role reads too): the image's
# user and /data owner follow it. This tree's file, whatever gridbot the venv has installed.
uid=$("$py" -c 'import runpy, sys; print(runpy.run_path(sys.argv[1])["UID"])' bot/gridbot/contract.py)
case "$uid" in '' | *[!0-9]*) echo "build.sh: no numeric UID in bot/gridbot/contract.py" >&2; exit 2 ;; esac

if [ -z "${2:-}" ]; then
  tools/images/container-image.sh trixie "$arch" python >&2
fi
pyver=$(docker run --rm --platform "linux/$arch" "$base" python3 -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')
has_numpy=$(docker run --rm --platform "linux/$arch" "$base" python3 -c 'import numpy; print(1)' 2>/dev/null || echo 0)

# Fetch the wheels for the target, as the lock pins them and checked against its hashes (never inside the
# build: HTTPS there fails, and Pis need no PyPI).
stage=.cache/image/$arch
rm -rf "$stage"
mkdir -p "$stage/wheels" "$stage/context"
platforms=(--platform "manylinux_2_28_$plat" --platform "manylinux_2_17_$plat" --platform "manylinux2014_$plat")
"$py" -m pip wheel -q --no-deps -w "$stage/wheels" . >&2
PYTHON=$py bot/image/wheels.sh "$arch" "$pyver" "$stage/wheels"
nonumpy=()
[ "$has_numpy" = 1 ] && nonumpy=(! -name 'numpy-*')  # the base's Debian numpy is used instead
# The dependencies in lib/, the bot in app/: the image's layers for lib/ (compiled under qemu-user for arm64, a
# minute) stay cached while only the bot changes. pip's direct_url.json records the wheel's path on this machine
# and the wheel's hash (its zip's timestamps: a new one each build): dropped, and its line in RECORD with it, so
# that an unchanged bot rebuilds to the same image ID (one the deploy role finds on a host and does not ship
# again). The scripts in bin/ go too (the image has its own entry script): RECORD names only what is there.
target() {
  "$py" -m pip install -q --no-deps --no-index --no-compile --only-binary=:all: "${platforms[@]}" \
    --python-version "$pyver" --implementation cp --target "$stage/context/$1" "${@:2}" >&2
  rm -rf "$stage/context/$1/bin" "$stage/context/$1"/*.dist-info/direct_url.json
  sed -i -e '/\.dist-info\/direct_url\.json,/d' -e '/^\.\.\/\.\.\/bin\//d' "$stage/context/$1"/*.dist-info/RECORD
}
target lib $(find "$stage/wheels" -name '*.whl' ! -name 'pifleet_gridbot-*' "${nonumpy[@]}")
target app "$stage"/wheels/pifleet_gridbot-*.whl
# ccxt ships ~110 exchanges, their async and websocket twins and DEX signing code (74 MB, more than the rest of
# the image). The bot imports ccxt.base and its one configured exchange (gridbot.live.ccxt_loader.exchange_class), so
# the image keeps the exchanges named in GRIDBOT_EXCHANGES only, and none of the async stack (aiohttp, uvloop,
# ...) that ccxt's sync client never imports. An exchange id the image lacks fails `gridbot run` naming exchange.id.
exchanges=${GRIDBOT_EXCHANGES:-binance binanceus}
ccxt=$stage/context/lib/ccxt
for ex in $exchanges; do
  [ -f "$ccxt/$ex.py" ] || { echo "build.sh: GRIDBOT_EXCHANGES: $ex is not a ccxt exchange" >&2; exit 2; }
done
find "$ccxt" -mindepth 1 -maxdepth 1 ! -name base ! -name abstract ! -name __init__.py \
  $(for ex in $exchanges; do printf -- '! -name %s.py ' "$ex"; done) -exec rm -rf {} +
find "$ccxt/abstract" -mindepth 1 -maxdepth 1 ! -name __init__.py \
  $(for ex in $exchanges; do printf -- '! -name %s.py ' "$ex"; done) -exec rm -rf {} +
(cd "$stage/context/lib" && rm -rf aiohttp aiohttp-* aiohappyeyeballs* aiosignal* aiodns* pycares* frozenlist* \
  multidict* propcache* yarl* uvloop* zlib_ng* aiohttp_fast_zlib* attrs* attr coincurve*)
# Wheels ship their extensions with symbol tables (cryptography's alone: 3 MB); tracebacks do not need them.
# The target's binutils: the host's own strip for its own arch, the cross one (binutils-ARCH-linux-gnu) else.
strip=strip
[ "$(uname -m)" = "$plat" ] || strip=$plat-linux-gnu-strip
command -v "$strip" >/dev/null || { echo "build.sh: $strip not found (make setup installs it)" >&2; exit 2; }
find "$stage/context/lib" -name '*.so' -exec "$strip" --strip-unneeded {} +
# The build context is exactly what the image gets: the installed dependencies, the entry script, and the
# script that assembles the runtime root filesystem.
cp bot/image/gridbot bot/image/slim-rootfs.sh "$stage/context/"

tag="gridbot:$version-$arch"
start=$(date +%s)
echo "image: build context $(du -sh "$stage/context" | cut -f1)" >&2
# No --platform: with it the legacy builder records the runtime stage (FROM scratch) as the daemon's arch and
# then refuses to COPY into it. The base carries the target arch; the result's config is corrected below.
DOCKER_BUILDKIT=0 docker build -q -f bot/Dockerfile \
  --build-arg BASE="$base" --build-arg VERSION="$version" --build-arg REVISION="$revision" --build-arg GRIDBOT_UID="$uid" \
  -t "$tag" "$stage/context" >&2
if [ "$(docker image inspect -f '{{.Architecture}}' "$tag")" != "$arch" ]; then
  # The uncorrected image stays (untagged) as the build cache's leaf: an unchanged rebuild keeps its ID.
  docker save "$tag" | python3 tools/images/image-arch.py "$arch" | docker load -q >/dev/null
fi
docker tag "$tag" "gridbot:latest-$arch"
echo "image: built $tag in $(($(date +%s) - start)) s ($(docker image inspect -f '{{.Size}}' "$tag") bytes)" >&2

# One compressed artifact per version and arch, with the image ID beside it: the deploy role ships the
# artifact and skips hosts whose engine already has that image ID. An unchanged image is not re-exported.
artifact=.cache/image/gridbot-$version-$arch.tar.zst
id=$(docker image inspect -f '{{.Id}}' "$tag")
if [ ! -f "$artifact" ] || [ "$(cat "${artifact%.tar.zst}.id" 2>/dev/null)" != "$id" ]; then
  docker save "$tag" | zstd -q -T0 -10 -f -o "$artifact"
  sha256sum "$artifact" | cut -d' ' -f1 >"${artifact%.tar.zst}.sha256"
  echo "$id" >"${artifact%.tar.zst}.id"
fi
echo "image: $artifact $(du -h "$artifact" | cut -f1) sha256:$(cat "${artifact%.tar.zst}.sha256")" >&2
echo "$tag"
