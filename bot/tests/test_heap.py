"""trim_heap, judged by the kernel: a process whose heap has free pages between live blocks (as a bot's after
its start) has a smaller RSS after it."""

from __future__ import annotations

import subprocess
import sys

HOLES = """
import re
from gridbot.ops.heap import trim_heap

def rss_kb():
    return int(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read()).group(1))

blocks, keep = [], []
# 8 KiB blocks from the heap (under malloc's mmap threshold), each followed by a live one
for _ in range(4000):
    blocks.append(bytearray(8192))
    keep.append(bytearray(600))
del blocks  # ~32 MB of free pages the live blocks pin inside the heap
before = rss_kb()
trim_heap()
print(before, rss_kb())
"""


def test_trimming_gives_the_free_pages_inside_the_heap_back() -> None:
    out = subprocess.run([sys.executable, "-c", HOLES], capture_output=True, text=True, check=True)
    before, after = map(int, out.stdout.split())
    assert before - after > 10_000, (before, after)  # kB: at least a page of each hole
