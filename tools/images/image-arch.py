"""Rewrite the architecture of a `docker save` stream (stdin -> stdout): docker import records amd64."""

import hashlib
import io
import json
import sys
import tarfile


def main() -> None:
    arch = sys.argv[1]
    with tarfile.open(fileobj=io.BytesIO(sys.stdin.buffer.read())) as src:
        sys.stdout.buffer.write(rewrite(src, arch))


def rewrite(src: tarfile.TarFile, arch: str) -> bytes:
    manifest = json.load(src.extractfile("manifest.json"))
    old_name = manifest[0]["Config"]
    config = json.load(src.extractfile(old_name))
    config["architecture"] = arch
    if arch == "arm64":
        config["variant"] = "v8"
    blob = json.dumps(config).encode()
    new_name = hashlib.sha256(blob).hexdigest() + ".json"  # an image's ID is the hash of its config
    manifest[0]["Config"] = new_name
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as dst:
        for member in src.getmembers():
            if member.name not in (old_name, "manifest.json"):
                dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        for name, data in ((new_name, blob), ("manifest.json", json.dumps(manifest).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    return out.getvalue()


if __name__ == "__main__":
    main()
