"""The kernel's cost of tcp health checks alone: a bare loop doing only the system calls of
one check (socket, non-blocking connect, SO_LINGER 0, close) at a fixed rate against an
echo server in another process, and the CPU this process spent in the kernel and in user
space. What failoverd spends above the kernel figure is its own.

Usage: python3 check_floor.py HOST:PORT [HOST:PORT...] --rate 4000 --seconds 10
Prints one JSON line: {"checks_per_sec", "kernel_pct", "user_pct"}.
"""

import argparse
import json
import resource
import socket
import struct
import time

LINGER_RESET = struct.pack("ii", 1, 0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("addrs", nargs="+")
    p.add_argument("--rate", type=int, default=4000)
    p.add_argument("--seconds", type=float, default=10.0)
    a = p.parse_args()
    addrs = [(h, int(port)) for h, port in (x.rsplit(":", 1) for x in a.addrs)]
    per_tick, tick = max(1, a.rate // 100), 0.01
    n, t0 = 0, time.monotonic()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    next_tick = t0
    while time.monotonic() - t0 < a.seconds:
        for i in range(per_tick):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
            s.connect_ex(addrs[i % len(addrs)])
            s.close()
            n += 1
        next_tick += tick
        time.sleep(max(0.0, next_tick - time.monotonic()))
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    took = time.monotonic() - t0
    print(json.dumps({
        "checks_per_sec": round(n / took),
        "kernel_pct": round(100 * (r1.ru_stime - r0.ru_stime) / took, 1),
        "user_pct": round(100 * (r1.ru_utime - r0.ru_utime) / took, 1),
    }))


if __name__ == "__main__":
    main()
