"""The ``pclab`` command: wires the parts together and holds no logic of its own.

Each subcommand is a thin function that parses arguments, calls one part, and turns the part's
errors into one clear line and a non-zero exit.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pclab import __version__


class UserError(Exception):
    """A problem the user can fix; printed as one line, exit status 1."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pclab",
        description="Measure Lambda cold starts and provisioned concurrency, on AWS or locally.",
    )
    parser.add_argument("--version", action="version", version=f"pclab {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    # Subcommands are registered below, one block per part.
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
        return result
    except UserError as error:
        print(f"pclab: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("pclab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
