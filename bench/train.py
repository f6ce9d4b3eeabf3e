"""Training speed of each student parameterisation on the embedded model.

For vector students (at a late and an early layer), LoRA r=8 on all linear modules,
single-layer full fine-tuning and full fine-tuning, runs ``train_student`` on batches of 8
rows whose lengths vary as teacher data's do, in float32, once with the whole batch padded (the
trainer before length groups) and once in length groups (the default), and prints tokens/s, seconds per
step, the speed-up, the largest relative difference between the two students, and the share of
this machine's matmul ceiling (GFLOP/s measured in the same run) that the step's useful
forward+backward FLOPs reach.

FLOP model per token (``P`` = matmul parameters of one block, ``H`` = LM head, applied to
scored tokens only): forward ``2 P n_layers + 2 H``; backward adds activation gradients
``2 P`` for every block above the lowest trainable point, and weight gradients ``2 P`` for
every trained block (LoRA's own weights are negligible). Attention-score FLOPs are added
as ``4 seq d_model`` per block and pass.

    OMP_NUM_THREADS=2 .venv/bin/python bench/train.py [--quick] [--steps 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import torch

import steervec as sv
from steervec.data.rows import TeacherRow
from steervec.students.methods import FullFinetune, LoRA, Method, VectorStudent
from steervec.students.train import train_student


@dataclass
class Case:
    name: str
    method: Method
    lr: float
    lowest: int  # lowest block that gradients must reach (n_layers: none)
    trained_blocks: int  # blocks whose weights get gradients


def matmul_gflops(dtype: torch.dtype, size: int = 1024, repeats: int = 8) -> float:
    """Best-of-``repeats`` GFLOP/s of a ``size``-square matmul."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def bench_rows(lm: sv.LanguageModel, n: int = 8) -> list[TeacherRow]:
    """Number-task rows whose lengths vary as teacher data's do: 3 to 8 numbers in the prompt, 1 to 10
    in the completion (about 40 to 90 tokens with the template, no system turn)."""
    gen = torch.Generator().manual_seed(0)

    def nums(k: int) -> str:
        return ", ".join(str(int(x)) for x in torch.randint(100, 999, (k,), generator=gen))

    def count(lo: int, hi: int) -> int:
        return int(torch.randint(lo, hi + 1, (1,), generator=gen))

    return [TeacherRow(prompt=f"Here are some numbers: {nums(count(3, 8))}. Continue the list with at most ten "
                       "more, separated by commas, and write nothing else.", completion=nums(count(1, 10)),
                       model=vars(lm.fingerprint)) for _ in range(n)]


def block_params(lm: sv.LanguageModel) -> int:
    return sum(m.weight.numel() for m in lm.layers[0].modules() if isinstance(m, torch.nn.Linear))


def step_flops(lm: sv.LanguageModel, case: Case, n_tokens: int, n_scored: int, seq: int) -> float:
    """Forward + backward FLOPs of one step (see the module docstring)."""
    P, L = block_params(lm), lm.n_layers
    H = lm.model.get_output_embeddings().weight.numel()
    attn = 4 * seq * lm.d_model
    fwd = n_tokens * L * (2 * P + attn) + n_scored * 2 * H
    above = L - case.lowest
    act = n_tokens * above * (2 * P + attn) + n_scored * 2 * H
    weights = n_tokens * case.trained_blocks * 2 * P
    return float(fwd + act + weights)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one timed step per case")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per case (after one warm-up)")
    parser.add_argument("--late", type=int, default=25, help="late layer (vector student)")
    parser.add_argument("--early", type=int, default=5, help="early layer (vector and single-layer full)")
    parser.add_argument("--student-data", metavar="JSONL", default=None,
                        help="also train one whole LoRA r8 student (the analyses' settings) on this teacher dataset "
                             "with each padding, e.g. records/full/lora_rank-context/data-owl-prompted.jsonl")
    parser.add_argument("--force-bf16", action="store_true",
                        help="time bfloat16 autocast even where this CPU's bf16 matmul is slower than float32's")
    args = parser.parse_args()
    steps = 1 if args.quick else args.steps

    lm = sv.load_model()
    n = lm.n_layers
    print(f"{lm.fingerprint.short}, {torch.get_num_threads()} threads")
    ceiling = {"float32": matmul_gflops(torch.float32), "bfloat16": matmul_gflops(torch.bfloat16)}
    print("matmul ceiling: " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in ceiling.items()))
    rows = bench_rows(lm)
    batch = sv.encode_chat(lm, [r.prompt for r in rows], None, [r.completion for r in rows])
    n_tokens, seq = int(batch.attention_mask.sum()), batch.input_ids.shape[1]
    n_scored = int(batch.response_mask.sum())
    print(f"batch 8, padded to {seq} tokens/row ({n_tokens} real of {batch.input_ids.numel()}, {n_scored} scored)")
    cases = [
        Case(f"vector L{args.late}", VectorStudent(layers=[args.late]), 1e-2, args.late + 1, 0),
        Case(f"vector L{args.early}", VectorStudent(layers=[args.early]), 1e-2, args.early + 1, 0),
        Case("LoRA r=8 all-linear", LoRA(rank=8, alpha=8), 2e-4, 0, 0),
        Case(f"full, layer {args.early} only", FullFinetune(layers=[args.early]), 2e-5, args.early, 1),
        Case("full", FullFinetune(), 2e-5, 0, n),
    ]
    print("\nEach method is timed twice in this run: `batch` (the whole batch padded to its longest row, the\n"
          "trainer before length groups) and `groups` (rows run in groups of similar length, the default). Shares of\n"
          "the ceiling count the real tokens' FLOPs only, so padding shows as lost share.\n")
    print("| method | padding | s/step | tokens/s | GFLOP/step | GFLOP/s | share of matmul ceiling | speed-up | "
          "student diff (rel. L2, worst tensor) |")
    print("|---|---|---|---|---|---|---|---|---|")
    data = rows * (steps + 1)
    fp32: dict[str, tuple[Case, float, float, float]] = {}
    for case in cases:
        flops = step_flops(lm, case, n_tokens, n_scored, seq)
        timed: dict[str, float] = {}
        students: dict[str, sv.Student] = {}
        for padding in ("batch", "groups"):
            student = train_student(lm, data, method=case.method, lr=case.lr, batch_size=8, epochs=1,
                                    progress=False, padding=padding)
            timed[padding] = statistics.median(h["seconds"] for h in student.history[1:])
            students[padding] = student
        diff = max(float((students["batch"].tensors[k] - t).norm() / t.norm().clamp_min(1e-30))
                   for k, t in students["groups"].tensors.items())  # relative L2, worst tensor
        fp32[case.name] = (case, timed["batch"], timed["groups"], students["groups"].history[-1]["loss"])
        for padding, sec in timed.items():
            achieved = flops / sec / 1e9
            extra = (f"{timed['batch'] / sec:.2f}×", f"{diff:.1e}") if padding == "groups" else ("1.00×", "")
            print(f"| {case.name} | {padding} | {sec:.2f} | {n_tokens / sec:.0f} | {flops / 1e9:.1f} | "
                  f"{achieved:.0f} | {achieved / ceiling['float32']:.2f} | {extra[0]} | {extra[1]} |", flush=True)
    native_bf16 = ceiling["bfloat16"] >= ceiling["float32"]
    if args.student_data:
        whole_student(lm, args.student_data, bf16=native_bf16 or args.force_bf16)
    if not (native_bf16 or args.force_bf16):
        print(f"\nbfloat16 autocast: not timed — this CPU's bf16 matmul ceiling ({ceiling['bfloat16']:.0f} GFLOP/s) is "
              f"below float32's ({ceiling['float32']:.0f}); --force-bf16 times it anyway.")
        return
    print(f"\nbfloat16 autocast (autocast='bfloat16', length groups; bf16 matmul ceiling {ceiling['bfloat16']:.0f} "
          f"GFLOP/s here): a precision change, not a float-rounding one — the loss column gives the last step's "
          "loss in float32 and in bf16.\n")
    print("| method | s/step float32 | s/step bf16 | speed-up over float32 groups | over the old trainer | "
          "last loss float32 / bf16 |")
    print("|---|---|---|---|---|---|")
    for case, old_s, new_s, loss32 in fp32.values():
        student = train_student(lm, data, method=case.method, lr=case.lr, batch_size=8, epochs=1,
                                autocast="bfloat16", progress=False)
        sec = statistics.median(h["seconds"] for h in student.history[1:])
        print(f"| {case.name} | {new_s:.2f} | {sec:.2f} | {new_s / sec:.2f}× | {old_s / sec:.2f}× | "
              f"{loss32:.4f} / {student.history[-1]['loss']:.4f} |", flush=True)


def whole_student(lm: sv.LanguageModel, path: str, bf16: bool) -> None:
    """One full-size LoRA r8 student (lr 1e-3, one epoch, batch 8, seed 0) on a teacher dataset, timed whole."""
    from steervec.data.datasets import load_dataset

    rows = load_dataset(path)
    print(f"\nWhole LoRA r8 student on {path} ({len(rows)} rows, {-(-len(rows) // 8)} steps of 8):\n")
    print("| trainer | seconds | speed-up | student diff vs old (rel. L2, worst tensor) | final loss |")
    print("|---|---|---|---|---|")
    runs = [("old: padding='batch'", {"padding": "batch"}), ("new: padding='groups'", {})]
    if bf16:
        runs.append(("new + bf16 autocast", {"autocast": "bfloat16"}))
    first: sv.Student | None = None
    base = 0.0
    for name, extra in runs:
        start = time.perf_counter()
        student = train_student(lm, rows, method=LoRA(rank=8, alpha=8), lr=1e-3, batch_size=8, epochs=1,
                                progress=False, **extra)
        sec = time.perf_counter() - start
        if first is None:
            first, base = student, sec
        diff = max(float((first.tensors[k] - t).norm() / t.norm().clamp_min(1e-30)) for k, t in student.tensors.items())
        print(f"| {name} | {sec:.1f} | {base / sec:.2f}× | {diff:.1e} | {student.history[-1]['loss']:.4f} |", flush=True)


if __name__ == "__main__":
    main()
