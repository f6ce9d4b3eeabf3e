"""Overhead of the TransformerLens and nnsight backends over plain torch hooks.

On the embedded model (batch 8 x 61 tokens, float32), each backend runs the same forward
with (a) a recording of one layer and (b) an add-intervention at one layer; the median
times (interleaved, same run) and the ratios to the torch backend are printed. Each
backend gets its own copy of the model (a TransformerLens bridge changes the model it wraps).

    .venv/bin/python bench/backends.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import steervec as sv
from steervec.backends.base import get_backend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=61)
    parser.add_argument("--layer", type=int, default=20)
    args = parser.parse_args()
    backends = {name: get_backend(name, sv.load_model()) for name in ("torch", "transformer_lens", "nnsight")}
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 49152, (args.batch, args.seq), generator=gen)
    mask = torch.ones_like(ids)
    v = torch.randn(576, generator=gen)
    tasks = {
        "read": lambda b: b.run(ids, mask, [], [args.layer]),
        "add": lambda b: b.run(ids, mask, [sv.Intervention(args.layer, sv.add_operator(v, 4.0))]),
    }
    times: dict[tuple[str, str], list[float]] = {}
    for task, fn in tasks.items():
        for backend in backends.values():
            fn(backend)  # warm-up
        for _ in range(args.repeats):
            for name, backend in backends.items():
                start = time.perf_counter()
                fn(backend)
                times.setdefault((task, name), []).append(time.perf_counter() - start)
    print(f"forward {args.batch}x{args.seq}, float32, {torch.get_num_threads()} threads, "
          f"median of {args.repeats} (interleaved)")
    print(f"{'task':6s} {'backend':18s} {'ms':>9s} {'/ torch':>8s}")
    for task in tasks:
        base = statistics.median(times[(task, "torch")])
        for name in backends:
            med = statistics.median(times[(task, name)])
            print(f"{task:6s} {name:18s} {med * 1000:9.1f} {med / base:8.3f}")


if __name__ == "__main__":
    main()
