"""``python -m gateway.firstboot [--boot DIR] [--root DIR]`` applies the boot partition's
gateway.toml; ``python -m gateway.firstboot --check FILE`` validates one on any PC and prints
the gateway config it becomes."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from gateway.config import ConfigErrors
from gateway.firstboot.bootfile import parse_boot_file, render_gateway_config
from gateway.firstboot.run import PASSWD, run
from gateway.firstboot.system import Host


def main(argv: list[str] | None = None) -> int:
    """Apply the boot partition's gateway.toml; exit 0 also when it was rejected, because the
    last good config keeps the gateway running (the error is on the boot partition)."""
    parser = argparse.ArgumentParser(prog="python -m gateway.firstboot", description=__doc__)
    parser.add_argument("--boot", type=Path, default=Path("/boot/firmware"), help="boot partition")
    parser.add_argument("--root", type=Path, default=Path("/"), help="root filesystem to configure")
    parser.add_argument("--check", type=Path, metavar="FILE", help="only validate FILE; print the gateway config")
    args = parser.parse_args(argv)
    if args.check is not None:
        return check(args.check)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    host = Host(args.root, live=args.root.resolve() == Path("/"))
    ok = run(args.boot, host)
    logging.getLogger("gateway.firstboot").info("boot config %s", "applied" if ok else "rejected")
    return 0


def check(path: Path) -> int:
    """Validate a boot file without applying it: errors to stderr (exit 1), or the gateway
    config it yields to stdout (exit 0)."""
    try:
        config = parse_boot_file(path.read_text(encoding="utf-8"), path.name, password_file="/" + PASSWD)
    except ConfigErrors as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        return 1
    sys.stdout.write(render_gateway_config(config.gateway))
    return 0


if __name__ == "__main__":
    sys.exit(main())
