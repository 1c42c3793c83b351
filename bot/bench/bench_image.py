"""gridbot image figures per built arch: size, start -> healthy, steady RSS, cached build time.

Goals: arm64 <= 100 MB uncompressed; healthy <= 1 s natively (arm64 under qemu-user is inflated ~9x);
steady RSS <= 60 MB natively. Skips an arch whose image is not built (`make image`).
"""

import subprocess
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
FLAGS = [
    "--read-only",
    "--tmpfs",
    "/tmp:size=32m",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
]


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout.strip()


def start_to_healthy(image: str) -> tuple[float, float]:
    name = f"gridbot-bench-{time.monotonic_ns()}"
    started = time.monotonic()
    docker(
        "run",
        "-d",
        "--name",
        name,
        *FLAGS,
        "--health-interval",
        "100ms",
        "--health-start-period",
        "60s",
        image,
    )
    try:
        while docker("inspect", "-f", "{{.State.Health.Status}}", name) != "healthy":
            time.sleep(0.05)
        healthy = time.monotonic() - started
        time.sleep(10)  # steady state: past start-up, a few cycles in
        pid = docker("inspect", "-f", "{{.State.Pid}}", name)
        rss_kb = next(
            int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("VmRSS")
        )  # fmt: skip
        return healthy, rss_kb / 1024
    finally:
        docker("rm", "-f", name)


def main() -> None:
    for arch in ("amd64", "arm64"):
        image = f"gridbot:latest-{arch}"
        try:
            size = int(docker("image", "inspect", "-f", "{{.Size}}", image))
        except subprocess.CalledProcessError:
            print(f"image     {arch}: not built (make image ARCH={arch})")
            continue
        artifacts = sorted((TOP / ".cache" / "image").glob(f"gridbot-*-{arch}.tar.zst"))
        packed = artifacts[-1].stat().st_size / 1e6 if artifacts else float("nan")
        healthy, rss = start_to_healthy(image)
        began = time.monotonic()
        subprocess.run([str(TOP / "bot/image/build.sh"), arch], cwd=TOP, capture_output=True, check=True)
        rebuild = time.monotonic() - began
        note = " (qemu-user emulation)" if arch == "arm64" else ""
        print(
            f"image     {arch}: {size / 1e6:.1f} MB uncompressed, {packed:.1f} MB zstd; start->healthy "
            f"{healthy:.2f} s{note}; steady RSS {rss:.1f} MB; cached rebuild + export {rebuild:.1f} s"
        )


if __name__ == "__main__":
    main()
