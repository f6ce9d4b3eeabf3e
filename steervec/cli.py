"""Command line: ``steervec <command>`` (also ``python -m steervec``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(layer=args.layer, alpha=args.alpha)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="steervec",
        description="Steering-vector tools for research on subliminal learning.",
        epilog="example: steervec demo --layer 25 --alpha 3",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="owl pipeline on the embedded model",
                          epilog="example: steervec demo")
    demo.add_argument("--layer", type=int, default=25)
    demo.add_argument("--alpha", type=float, default=3.0)
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
