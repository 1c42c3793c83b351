#!/usr/bin/env python3
"""A minimal SNTP server on the controller's loopback for the VM tier.

The test network reaches no public NTP server, yet the roles must prove that time sync works: QEMU's
user-mode network maps the guest's 10.0.2.2 to this machine's 127.0.0.1, so the VMs sync from here.
The replies carry this machine's clock at stratum 2 (RFC 4330 server mode).
Usage: ntp-responder.py [PORT]   (default 123; runs in the foreground)
"""

import socket
import struct
import sys
import time

NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
REQUEST = struct.Struct("!BBbb11I")


def ntp_time(unix: float) -> tuple[int, int]:
    seconds = int(unix) + NTP_EPOCH_OFFSET
    fraction = int((unix % 1) * 2**32)
    return seconds, fraction


def reply(request: bytes, received: float) -> bytes | None:
    if len(request) < REQUEST.size:
        return None
    fields = REQUEST.unpack_from(request)
    version = (fields[0] >> 3) & 0x7
    mode = fields[0] & 0x7
    if mode != 3:  # answer clients only
        return None
    client_transmit = fields[-2:]
    sent = time.time()
    return struct.pack(
        "!BBbbII4s8s8s8s8s",
        (0 << 6) | (version << 3) | 4,  # no leap warning, server mode
        2,  # stratum: synchronised, one level below a reference clock
        fields[2],  # echo the client's poll interval
        -20,  # precision: about a microsecond
        0,  # root delay
        1 << 10,  # root dispersion: 1/64 s (16.16 fixed point)
        b"LOCL",
        struct.pack("!II", *ntp_time(sent)),  # reference: the clock was just read
        struct.pack("!II", *client_transmit),  # originate = the client's transmit time
        struct.pack("!II", *ntp_time(received)),
        struct.pack("!II", *ntp_time(sent)),
    )


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 123
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    while True:
        data, peer = sock.recvfrom(512)
        answer = reply(data, time.time())
        if answer is not None:
            sock.sendto(answer, peer)


if __name__ == "__main__":
    main()
