"""The dnsperf query file of dns-udp / dns-tcp, the same for every DNS server.

    python3 benches/lib/queries.py NAMES ZONE > queries

100,000 queries over the names g0..g(NAMES-1) of ZONE: 80% A; 10% AAAA, half of them
for the names that have one (every fifth) and half for any name (most of them NODATA);
5% MX (NODATA); 5% NXDOMAIN. Seeded: every run asks the same questions.
"""

import random
import sys


def main() -> None:
    groups, zone = int(sys.argv[1]), sys.argv[2]
    rng = random.Random(42)
    for _ in range(100_000):
        r = rng.random()
        g = f"g{rng.randrange(groups)}.{zone}"
        if r < 0.80:
            print(g, "A")
        elif r < 0.90:
            print(f"g{rng.randrange(0, groups, 5) if r < 0.85 else rng.randrange(groups)}.{zone}", "AAAA")
        elif r < 0.95:
            print(g, "MX")
        else:
            print(f"nx{rng.randrange(1000)}.{zone}", "A")


if __name__ == "__main__":
    main()
