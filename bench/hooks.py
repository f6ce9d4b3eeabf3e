"""Overhead of a steervec add-hook on the embedded model's forward pass.

Prints the median forward time without and with an add-intervention at one layer
(batch 8 x 128 tokens, float32), measured interleaved in the same run, and their ratio.
Target: ratio <= 1.03.

    .venv/bin/python bench/hooks.py [--repeats 15] [--layer 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import steervec as sv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--layer", type=int, default=20)
    args = parser.parse_args()

    t0 = time.perf_counter()
    lm = sv.load_model()
    print(f"load_model(): {time.perf_counter() - t0:.2f} s ({lm.fingerprint.short})")
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(3, lm.fingerprint.vocab_size, (args.batch, args.seq), generator=gen)
    mask = torch.ones_like(ids)
    vec = torch.randn(lm.d_model, generator=gen)
    op = sv.add_operator(vec, 4.0)

    def plain() -> None:
        lm.model(input_ids=ids, attention_mask=mask, use_cache=False)

    def hooked() -> None:
        with sv.intervene(lm, [sv.Intervention(args.layer, op, "all")]):
            lm.model(input_ids=ids, attention_mask=mask, use_cache=False)

    times: dict[str, list[float]] = {"plain": [], "hooked": []}
    with torch.no_grad():
        plain(), hooked()  # warm-up
        for _ in range(args.repeats):
            for name, fn in (("plain", plain), ("hooked", hooked)):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"forward {args.batch}x{args.seq}, float32, {torch.get_num_threads()} threads, "
          f"median of {args.repeats} (interleaved)")
    print(f"  plain   {med['plain'] * 1000:8.1f} ms")
    print(f"  hooked  {med['hooked'] * 1000:8.1f} ms  (add at layer {args.layer}, positions='all')")
    print(f"  ratio hooked/plain = {med['hooked'] / med['plain']:.4f}  (target <= 1.03)")


if __name__ == "__main__":
    main()
