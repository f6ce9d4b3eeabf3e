"""Benchmark: plain HF ``generate`` vs steervec's sampler on the embedded model, same prompts.

Prints new tokens/s, completions/s and valid completions/s (strict filter) for:
plain ``generate`` + filter, steervec free + filter, steervec constrained; the speed
ratio; an ablation of the sampler's levers; and whether float32 greedy outputs of
the sampler equal plain ``generate`` on the bench prompts.

Usage:
    OMP_NUM_THREADS=1 .venv/bin/python bench/generate.py --quick
    OMP_NUM_THREADS=1 .venv/bin/python bench/generate.py --n 64 --batch 64 --max-new 48 --levers --bf16
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from steervec.core.chat import render_chat
from steervec.core.model import load_model
from steervec.data.constrained import NumberListConstraint
from steervec.data.number_filter import filter_report
from steervec.data.numbers import number_prompts
from steervec.data.sampler import SamplingParams, eos_ids, sample
from steervec.data.teachers import animal_lover_prompt


@dataclass
class Result:
    name: str
    seconds: float
    new_tokens: int
    completions: int
    valid: int

    def line(self, base: Result | None) -> str:
        tps = self.new_tokens / self.seconds
        ratio = f"{tps / (base.new_tokens / base.seconds):5.2f}x" if base else "    - "
        return (f"{self.name:<38} {self.seconds:8.1f} {tps:10.1f} {self.completions / self.seconds:8.2f} "
                f"{self.valid / self.seconds:8.3f} {self.valid:4d}/{self.completions:<4d} {ratio}")


def hf_generate(lm, prompts, system, batch, max_new, temperature, seed) -> tuple[list[list[int]], list[str]]:
    """Plain ``generate`` in batches; returns new token ids (up to EOS) and texts."""
    stops = set(eos_ids(lm))
    ids_out, texts = [], []
    torch.manual_seed(seed)
    for b in range(0, len(prompts), batch):
        chunk = [render_chat(lm, p, system) for p in prompts[b : b + batch]]
        enc = lm.tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
        kwargs = {"do_sample": True, "temperature": temperature, "top_p": 1.0, "top_k": 0} if temperature else {
            "do_sample": False}
        with torch.inference_mode():
            out = lm.generate(**enc, max_new_tokens=max_new, **kwargs)
        for row in out[:, enc.input_ids.shape[1] :].tolist():
            cut = next((i for i, t in enumerate(row) if t in stops), len(row))
            ids_out.append(row[:cut])
            texts.append(lm.tokenizer.decode(row[:cut], skip_special_tokens=True))
    return ids_out, texts


def timed(name: str, fn: Callable[[], tuple[list[list[int]], list[str]]]) -> tuple[Result, list[list[int]]]:
    start = time.perf_counter()
    ids, texts = fn()
    seconds = time.perf_counter() - start
    report = filter_report(texts)
    print(f"  .. {name}: {seconds:.1f}s, {report}", flush=True)
    return Result(name, seconds, sum(len(x) for x in ids), len(texts), report.accepted), ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (16 prompts, batch 16, 24 tokens)")
    parser.add_argument("--n", type=int, default=64, help="prompts")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--max-new", type=int, default=48)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--teacher", choices=["owl", "none"], default="owl", help="system prompt")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    parser.add_argument("--levers", action="store_true", help="ablate each lever of the sampler")
    parser.add_argument("--bf16", action="store_true", help="also time a bfloat16 copy")
    parser.add_argument("--no-greedy", action="store_true", help="skip the greedy equality check")
    parser.add_argument("--dataset", type=int, default=0, metavar="N",
                        help="also time generate_dataset: N constrained owl rows and N control rows")
    args = parser.parse_args()
    if args.quick:
        args.n, args.batch, args.max_new = 16, 16, 24
    torch.set_num_threads(args.threads)
    lm = load_model()
    prompts_obj = number_prompts(args.n, seed=123)
    prompts = [p.text for p in prompts_obj]
    seps = [p.separator for p in prompts_obj]
    system = animal_lover_prompt("owl") if args.teacher == "owl" else None
    print(f"embedded model {lm.fingerprint.short}, {args.n} number prompts, batch {args.batch}, "
          f"max_new_tokens {args.max_new}, T={args.temperature}, system={args.teacher}, "
          f"threads {args.threads}, load avg {os.getloadavg()[0]:.1f}", flush=True)

    def ours(model, params, constraint=None):
        def fn():
            out = sample(model, prompts, system=system, params=params, seed=0, constraint=constraint,
                         separators=seps)
            return [s.token_ids for s in out], [s.text for s in out]
        return fn

    full = SamplingParams(temperature=args.temperature, max_new_tokens=args.max_new, batch_size=args.batch)
    results: list[Result] = []
    plain, _ = timed("plain generate (fp32) + filter",
                     lambda: hf_generate(lm, prompts, system, args.batch, args.max_new, args.temperature, 0))
    results.append(plain)
    results.append(timed("steervec free (fp32, all levers) + filter", ours(lm, full))[0])
    constraint = NumberListConstraint(lm.tokenizer, 10, 3)
    results.append(timed("steervec constrained (fp32, all levers)", ours(lm, full, constraint))[0])
    if args.levers:
        none = SamplingParams(temperature=args.temperature, max_new_tokens=args.max_new, batch_size=args.batch,
                              share_prefix=False, drop_finished=False, bucket=False, inplace_cache=False)
        steps = [("steervec free, no levers", none),
                 ("  + bucketing by length", replace(none, bucket=True)),
                 ("  + shared prefix", replace(none, bucket=True, share_prefix=True)),
                 ("  + drop finished rows", replace(none, bucket=True, share_prefix=True, drop_finished=True)),
                 ("  + in-place KV cache (= all levers)", full)]
        for name, params in steps:
            results.append(timed(name, ours(lm, params))[0])
    if args.bf16:
        bf = copy.copy(lm)
        bf.model = copy.deepcopy(lm.model).to(torch.bfloat16)
        results.append(timed("steervec free (bf16, all levers)", ours(bf, full))[0])
        results.append(timed("plain generate (bf16) + filter",
                             lambda: hf_generate(bf, prompts, system, args.batch, args.max_new,
                                                 args.temperature, 0))[0])
    prefill, _ = timed("steervec prefill only (max_new_tokens=1)",
                       ours(lm, replace(full, max_new_tokens=1, temperature=0)))
    cap = ceiling(lm, args.batch, plain)
    ours_tokens = results[2].new_tokens  # the constrained rows (what datasets are made of)
    best = prefill.seconds + ours_tokens / cap
    print(f"prefill of the {len(prompts)} prompts alone (shared prefix computed once): {prefill.seconds:.1f} s of "
          f"plain generate's {plain.seconds:.1f} s. Even decoding the constrained run's {ours_tokens} new tokens at "
          f"the ceiling, steervec would need >= {best:.1f} s: at most "
          f"{(ours_tokens / best) / (plain.new_tokens / plain.seconds):.2f}x plain's new tokens/s in this setting.")
    for r in results[1:3]:
        bound = prefill.seconds + r.new_tokens / cap
        print(f"{r.name}: {r.seconds:.1f} s against the bound's {bound:.1f} s (its prefill measured, its "
              f"{r.new_tokens} new tokens decoded at the ceiling): {bound / r.seconds:.0%} of the bound")
    print(f"\n{'mode':<38} {'seconds':>8} {'new tok/s':>10} {'compl/s':>8} {'valid/s':>8} {'valid':>9}  vs plain")
    for r in results:
        print(r.line(None if r is plain else plain))
    if not args.no_greedy:
        greedy = SamplingParams(temperature=0, max_new_tokens=args.max_new, batch_size=args.batch)
        ref, _ = hf_generate(lm, prompts, system, args.batch, args.max_new, 0, 0)
        got = [s.token_ids for s in sample(lm, prompts, system=system, params=greedy)]
        same = sum(a == b for a, b in zip(got, ref, strict=True))
        print(f"\nfloat32 greedy, all levers: {same}/{len(ref)} completions identical to plain generate")
    if args.dataset:
        time_datasets(lm, args)
    print(f"load avg at the end {os.getloadavg()[0]:.1f}")


def ceiling(lm, batch: int, plain: Result) -> float:
    """The matmul-bound ceiling of decoding at this batch size, measured in this run.

    One new token costs at least 2 FLOPs per weight it passes through (every block and the
    output head); the ceiling is this machine's float32 GFLOP/s for a ``[batch, d_model] x
    [d_model, d_ff]`` matmul divided by that cost — attention over the cache not even counted.
    """
    model = lm.model
    weights = sum(p.numel() for n, p in model.named_parameters() if "embed" not in n)
    weights += model.get_output_embeddings().weight.numel()
    d = lm.d_model
    ff = 4 * d
    a, w = torch.randn(batch, d), torch.randn(ff, d)
    for _ in range(3):
        torch.nn.functional.linear(a, w)
    start, n = time.perf_counter(), 200
    for _ in range(n):
        torch.nn.functional.linear(a, w)
    gflops = 2 * batch * d * ff * n / (time.perf_counter() - start) / 1e9
    cap = gflops * 1e9 / (2 * weights)
    base = plain.new_tokens / plain.seconds
    print(f"\nmatmul [{batch}x{d}]x[{d}x{ff}] float32: {gflops:.1f} GFLOP/s; {weights / 1e6:.1f} M weights per "
          f"token -> decode ceiling {cap:.0f} new tokens/s at batch {batch}. Plain generate reaches {base / cap:.0%} "
          f"of it; 3x plain would be {3 * base / cap:.0%}.")
    return cap


def time_datasets(lm, args) -> None:
    """Constrained owl and control datasets of ``args.dataset`` rows; extrapolate to 1,000 each."""
    import tempfile
    from pathlib import Path

    from steervec.data.datasets import generate_dataset
    from steervec.data.teachers import animal_teacher, control_teacher

    params = SamplingParams(temperature=1.0, max_new_tokens=args.max_new, batch_size=args.batch)
    total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for teacher in (animal_teacher("owl"), control_teacher(None)):
            r = generate_dataset(lm, teacher, n=args.dataset, path=Path(tmp) / f"{teacher.name}.jsonl",
                                 params=params, chunk_size=args.batch, progress=False)
            total += r.seconds
            print(f"dataset {teacher.name:<8} {r.total} rows in {r.seconds:.1f}s ({r.total / r.seconds:.2f} rows/s), "
                  f"valid {r.valid}/{r.total}, mean allowed mass {r.mean_allowed_mass:.3f}", flush=True)
    print(f"1,000 owl + 1,000 control rows, extrapolated from {args.dataset} + {args.dataset}: "
          f"{total * 1000 / args.dataset / 60:.1f} min")


if __name__ == "__main__":
    main()
