"""How long the README's commands take: the demo and a clean documentation build.

Runs each command as a user would, in a fresh process, and records its wall
time next to the CPU time it used and the machine's load average, so that a
figure measured on a busy machine says so. The documentation is built from a
copy of ``docs/`` and ``examples/`` in a temporary folder, so that the build is
clean (every gallery example runs) and the working tree is left alone.

Usage, from the repository root::

    python benchmarks/timings.py            # writes benchmarks/results-timings.txt

``docs/install.rst`` shows that file; README.md points to it.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], cwd: Path) -> tuple[float, float, float]:
    """``(wall seconds, CPU seconds, load average at the start)`` of one run."""
    load = os.getloadavg()[0]
    cpu, start = _children_cpu(), time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start, _children_cpu() - cpu, load


def describe(label: str, runs: list[tuple[float, float, float]]) -> str:
    wall, cpu, load = (statistics.median(values) for values in zip(*runs))
    return (
        f"{label:<40} wall {wall:6.1f} s   CPU {cpu:6.1f} s   "
        f"load average at start {load:5.2f}   "
        + (f"(median of {len(runs)} runs)" if len(runs) > 1 else "(1 run)")
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo-runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    env_python = sys.executable
    lines = [
        f"# timings of the README's commands, {time.strftime('%Y-%m-%d')}",
        f"machine: {platform.machine()}, {os.cpu_count()} logical CPUs; "
        f"python {platform.python_version()}",
        "wall: elapsed time; CPU: user + system time of the command's processes. On a machine",
        "shared with other work, wall time grows with the load while CPU time barely moves.",
        "",
    ]
    demo = [timed([env_python, "-m", "sk_mlp"], ROOT) for _ in range(args.demo_runs)]
    lines.append(describe("python -m sk_mlp", demo))
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("docs", "examples", "benchmarks"):  # the docs include results files
            shutil.copytree(
                ROOT / name,
                Path(tmp) / name,
                ignore=shutil.ignore_patterns("_build", "auto_examples", "gen_modules"),
            )
        (Path(tmp) / "benchmarks" / "results-timings.txt").touch()  # written below
        build = [env_python, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
        docs = timed([*build, "docs", "docs/_build/html"], Path(tmp))
    lines.append(describe("clean documentation build (sphinx -W)", [docs]))
    print("\n".join(lines))
    if not args.no_write:
        path = Path(__file__).with_name("results-timings.txt")
        path.write_text("\n".join(lines) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
