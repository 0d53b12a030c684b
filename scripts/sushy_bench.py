#!/usr/bin/env python3
"""The power-sync benchmark against sushy-tools: starts the pinned
`sushy-emulator --fake` with N fake systems (default 50; the same emulator
setup as scripts/redfish_e2e.py) and runs the conductor's power_sync_bench
example against it, which times a full pass the same way as the bmcsim
passes. Not a test: the figures go in docs/benchmarks.md.

Usage: scripts/sushy_bench.py [SYSTEMS]   (needs the release example built:
cargo build --release -p ferrite-conductor --example power_sync_bench)
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redfish_e2e as e2e  # noqa: E402
from ferrite_server import REPO  # noqa: E402


def main():
    e2e.SYSTEMS = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    bench = os.path.join(target, "release", "examples", "power_sync_bench")
    e2e.ensure_sushy()
    with e2e.Sushy() as sushy:
        subprocess.run([bench, "--redfish-url", sushy.url, "--redfish-user", e2e.USER,
                        "--redfish-password", e2e.PASSWORD], check=True)


if __name__ == "__main__":
    main()
