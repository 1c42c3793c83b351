#!/usr/bin/env python3
"""Run a command with a tap device of another network namespace open, its descriptor put in the command's
arguments where they say {fd}:

    netns-tap.py NETNS TAP -- qemu-system-aarch64 ... -netdev tap,id=lan,fd={fd} ...

The tap (persistent, made by lan.sh inside NETNS and enslaved to its bridge) is attached there, and the
command runs back in this namespace: qemu's user-mode network (SSH on this machine's loopback) stays where it
was, and the VM's second NIC is on the namespace's LAN, beside the other test hosts, without any device in
this machine's own network namespace.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import struct
import sys
from typing import NoReturn

CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def main(argv: list[str]) -> NoReturn:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: netns-tap.py NETNS TAP -- COMMAND [ARG...]  ({fd} in an ARG: the tap)", file=sys.stderr)
        sys.exit(2)
    netns, tap, command = argv[0], argv[1], argv[3:]
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    there = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    _setns(there)
    try:
        fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", tap.encode(), IFF_TAP | IFF_NO_PI))
    finally:
        _setns(home)
    os.close(there)
    os.close(home)
    os.set_inheritable(fd, True)
    os.execvp(command[0], [arg.replace("{fd}", str(fd)) for arg in command])


if __name__ == "__main__":
    main(sys.argv[1:])
