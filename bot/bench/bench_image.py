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


# Probes every 100 ms: the time to the bot's first heartbeat, the floor any healthcheck timing can reach.
FAST = ["--health-interval", "100ms", "--health-start-period", "60s"]


def start_to_healthy(image: str, *timings: str, steady: bool = True) -> tuple[float, float]:
    name = f"gridbot-bench-{time.monotonic_ns()}"
    started = time.monotonic()
    docker("run", "-d", "--name", name, *FLAGS, *timings, image)
    try:
        while docker("inspect", "-f", "{{.State.Health.Status}}", name) != "healthy":
            time.sleep(0.05)
        healthy = time.monotonic() - started
        if not steady:
            return healthy, float("nan")
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
        healthy, rss = start_to_healthy(image, *FAST)
        # As deployed: the image's own timings, plus the role's 1 s start_interval on engines that have it.
        own, _ = start_to_healthy(image, steady=False)
        engine = docker("version", "-f", "{{.Server.Version}}")
        if int(engine.split(".")[0]) >= 25:
            quick, _ = start_to_healthy(image, "--health-start-interval", "1s", steady=False)
            role = f"{quick:.2f} s with the role's start_interval 1s"
        else:
            role = f"start_interval needs Docker >= 25, this engine is {engine}"
        began = time.monotonic()
        subprocess.run([str(TOP / "bot/image/build.sh"), arch], cwd=TOP, capture_output=True, check=True)
        rebuild = time.monotonic() - began
        note = " (qemu-user emulation)" if arch == "arm64" else ""
        print(
            f"image     {arch}: {size / 1e6:.1f} MB uncompressed, {packed:.1f} MB zstd; start->first "
            f"heartbeat {healthy:.2f} s{note}, ->healthy {own:.2f} s with the image's timings ({role}); "
            f"steady RSS {rss:.1f} MB; cached rebuild + export {rebuild:.1f} s"
        )


if __name__ == "__main__":
    main()
