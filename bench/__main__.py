"""Run every benchmark and rewrite bench/RESULTS.md: ``uv run python -m bench``."""

from __future__ import annotations

import sys

from bench import detect, distributed, load_raw, parse_web, transform


def main() -> int:
    load_raw.main([])
    detect.main([])
    parse_web.main([])
    transform.main([])
    distributed.main([])  # needs PostgreSQL and RabbitMQ (the production topology)
    return 0


if __name__ == "__main__":
    sys.exit(main())
