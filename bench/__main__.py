"""`python -m bench [--tiny] [--out DIR]`: run every benchmark and write the results
(`latest.md`, then item 7's `resume.md`, `bench.resume`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench import resume
from bench.config import FULL, RESUME_FULL, RESUME_TINY, TINY
from bench.runner import RESULTS, run


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--tiny", action="store_true", help="a few seconds' smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args()
    run(TINY if args.tiny else FULL, args.out)
    resume.run(RESUME_TINY if args.tiny else RESUME_FULL, args.out)


main()
