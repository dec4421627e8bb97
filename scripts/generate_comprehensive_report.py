#!/usr/bin/env python3
"""The seed's report entry point: runs `sxbench report` with the arguments given.

    scripts/generate_comprehensive_report.py [--results DIR] [--out DIR] [--targets FILE] [--lang en|ja]

The sxbench binary is $SXBENCH when set, else build/sxbench of this checkout, else sxbench on
PATH. Its output and exit status are passed through unchanged (see docs/report.md).
"""
import os
import shutil
import sys


def find_sxbench():
    explicit = os.environ.get("SXBENCH")
    if explicit:
        return explicit
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    built = os.path.join(repo, "build", "sxbench")
    if os.access(built, os.X_OK):
        return built
    return shutil.which("sxbench")


def main():
    binary = find_sxbench()
    if not binary:
        sys.stderr.write("generate_comprehensive_report: error: no sxbench binary (build it with "
                         "./setup/install_all.sh, put it on PATH, or set SXBENCH)\n")
        return 4
    os.execv(binary, [binary, "report"] + sys.argv[1:])
    return 0  # not reached: execv replaces this process


if __name__ == "__main__":
    sys.exit(main())
