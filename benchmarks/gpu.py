"""GPU benchmark of the prepared device check (benchmarks/gpu_check.sh).

Three sections, each against peers measured in the same run (medians):

- ``gpu``: speed.py's GPU workload (1,000,000 x 100, hidden (512, 512, 512),
  batch 4096, 5 epochs): sk_mlp in float32 on each CUDA step route
  (``sk_mlp._engine.gpu_step.STEP``: autograd, the default; backprop; graph), in
  bfloat16, and the minimal torch loop.
- ``clf-10k``: speed.py's CPU workload (10,000 x 50, hidden (256, 256), batch
  256, 10 epochs) on the GPU's routes and on 2 CPU cores (2 torch threads).
- ``dispatch``: one epoch of the ``gpu`` workload from a NumPy array and from
  a CUDA tensor under array API dispatch (no trip through the host).

It ends with the issue's targets, met or not. ``--dry-run`` runs the same code
on the CPU at tiny sizes in seconds (CI runs it, so that it cannot rot).

Usage, from the repository root::

    python benchmarks/gpu.py --out RESULTS_DIR [--dry-run]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import sklearn
import torch
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, str(Path(__file__).parent))
from speed import Workload, gpu_workload, machine_line, make_data, run_workload  # noqa: E402

from sk_mlp import TorchMLPClassifier  # noqa: E402

ROUTES = ("sk_mlp", "sk_mlp backprop", "sk_mlp graph")  # float32, on the GPU


def workloads(dry: bool) -> list[Workload]:
    big = gpu_workload(quick=False)
    small = Workload(
        "clf-10k",
        "classification",
        10_000,
        contenders=(*ROUTES, "sk_mlp bf16", "sk_mlp cpu x2", "reference"),
    )
    small = dataclasses.replace(small, device="cuda")
    if not dry:
        return [big, small]
    # The same code on the CPU, at sizes that take seconds.
    tiny = dict(n_samples=1024, epochs=1, device="cpu")
    return [
        dataclasses.replace(big, batch_size=256, hidden=(32, 32, 32), **tiny),
        dataclasses.replace(small, hidden=(32, 32), **tiny),
    ]


def time_dispatch(w: Workload, repeats: int, log) -> dict:
    """One epoch from a NumPy array, and from a tensor already on the device
    under array API dispatch."""
    X, y, _, _ = make_data(w)
    X_device = torch.from_numpy(X).to(w.device)
    y_device = torch.from_numpy(y).to(w.device)
    params = dict(hidden_layer_sizes=w.hidden, batch_size=w.batch_size, max_iter=1)
    params |= dict(dropout=0.0, device="auto" if w.device != "cpu" else "cpu", random_state=0)
    times = {"numpy": [], "tensor under dispatch": []}
    for _ in range(repeats + 1):  # the first round warms up
        for name, (X_in, y_in) in (
            ("numpy", (X, y)),
            ("tensor under dispatch", (X_device, y_device)),
        ):
            with (
                warnings.catch_warnings(),
                sklearn.config_context(array_api_dispatch=name != "numpy"),
            ):
                warnings.simplefilter("ignore", ConvergenceWarning)
                start = time.perf_counter()
                TorchMLPClassifier(**params).fit(X_in, y_in)
                if w.device != "cpu":
                    torch.cuda.synchronize()
                times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(t[1:]) for name, t in times.items()}
    log(f"\n## dispatch: one epoch of {w.name} ({w.n_samples:,} x {w.n_features}), fit from")
    for name, seconds in med.items():
        log(f"   {name:<24} {seconds:7.3f} s")
    return med


def targets(outcomes: dict, dispatch: dict, log) -> list:
    rows = []

    def check(label, ok, detail):
        rows.append((label, ok, detail))

    gpu = outcomes["gpu"]["median"]
    for name in (*ROUTES, "sk_mlp bf16"):
        sps = gpu[name]["samples_per_s"]
        check(f"gpu: {name} >= 5M training samples/s", sps >= 5e6, f"{sps / 1e6:.1f}M/s")
    best32 = max(gpu[name]["samples_per_s"] for name in ROUTES)
    bf16 = gpu["sk_mlp bf16"]["samples_per_s"]
    check("gpu: bfloat16 faster than float32's best route", bf16 > best32, f"{bf16 / best32:.2f}x")
    small = outcomes["clf-10k"]["median"]
    cpu = small["sk_mlp cpu x2"]
    for name in ROUTES:
        ratio = cpu["fit"] / small[name]["fit"]
        check(f"clf-10k: {name} on the GPU >= 10x 2 CPU cores", ratio >= 10, f"{ratio:.1f}x")
    for workload, reference in (("clf-10k", "sk_mlp cpu x2"), ("gpu", "sk_mlp")):
        m = outcomes[workload]["median"]
        for name in m:
            if name.startswith("sk_mlp") and name != reference:
                diff = m[name]["score"] - m[reference]["score"]
                check(
                    f"{workload}: {name} accuracy within 0.01 of {reference}",
                    abs(diff) <= 0.01,
                    f"{m[name]['score']:.4f} vs {m[reference]['score']:.4f}",
                )
    ratio = dispatch["numpy"] / dispatch["tensor under dispatch"]
    check("dispatch: a device tensor fits at least as fast as NumPy", ratio >= 1, f"{ratio:.2f}x")
    log("\n## Targets")
    for label, ok, detail in rows:
        log(f"   [{'met' if ok else 'NOT MET':>7}] {label}: {detail}")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for results-gpu.txt")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU")
    parser.add_argument("--repeats", type=int, default=None, help="default 3 (dry run: 1)")
    args = parser.parse_args(argv)
    if not args.dry_run and not torch.cuda.is_available():
        parser.error("no CUDA device: run with --dry-run, or on a machine with a GPU")
    repeats = args.repeats or (1 if args.dry_run else 3)
    lines = []

    def log(text=""):
        print(text, flush=True)
        lines.append(text)

    started = time.perf_counter()
    log(f"# sk_mlp GPU benchmark ({'dry run, CPU, tiny sizes' if args.dry_run else 'full'})")
    log(machine_line())
    log(
        "sk_mlp variants: the CUDA step routes of sk_mlp._engine.gpu_step.STEP "
        "(sk_mlp = 'autograd', the default), precision='bfloat16', and 'cpu x2' "
        "(device='cpu', 2 torch threads)"
    )
    outcomes = {w.name: run_workload(w, repeats, log) for w in workloads(args.dry_run)}
    big = workloads(args.dry_run)[0]
    dispatch = time_dispatch(dataclasses.replace(big, epochs=1), repeats, log)
    results = targets(outcomes, dispatch, log)
    log(f"\ntotal benchmark time: {time.perf_counter() - started:.0f} s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results-gpu.txt").write_text("\n".join(lines) + "\n")
    raw = {name: outcome["median"] for name, outcome in outcomes.items()}
    raw["dispatch"] = dispatch
    raw["targets"] = [{"target": label, "met": ok, "detail": d} for label, ok, d in results]
    (out / "results-gpu.json").write_text(json.dumps(raw, indent=1, default=str))
    print(f"wrote {out / 'results-gpu.txt'}")


if __name__ == "__main__":
    main()
