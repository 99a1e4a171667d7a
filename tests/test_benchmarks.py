"""Every benchmark still starts: its imports resolve and its options parse (`--help`).

The benchmarks are run by hand, not by `make test`, so a rename in `app/` could break one unnoticed until the
next measurement; this runs each one's command line far enough to print its usage, all in one interpreter.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SKIPPED = {"__init__", "harness"}  # a package marker and the shared helpers: no command line of their own

_RUN_EACH = """
import contextlib, io, runpy, sys
for name in sys.argv[1:]:
    sys.argv = [name, "--help"]
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_module(f"benchmarks.{name}", run_name="__main__", alter_sys=True)
    except SystemExit as done:
        assert done.code in (0, None), f"{name}: exit {done.code}"
    assert "usage:" in out.getvalue(), f"{name}: no usage printed"
    print(name)
"""


def test_every_benchmark_prints_its_usage() -> None:
    names = sorted(p.stem for p in (PROJECT_ROOT / "benchmarks").glob("*.py") if p.stem not in SKIPPED)
    assert len(names) >= 10, names
    done = subprocess.run([sys.executable, "-c", _RUN_EACH, *names], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == names
