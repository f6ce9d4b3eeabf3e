"""Command line: ``steervec <command>`` (also ``python -m steervec``). Mirrors the Python API.

Errors a user can fix (steervec's own errors, bad argument values, missing or unwritable
files) print one line, ``steervec: error: <message>``, and exit with status 2; ``--debug``
shows the traceback instead. ``evaluate``, ``fit`` and ``align`` take ``--json``: one JSON
object on stdout (NaN and infinities as ``null``) instead of the table; errors stay one line.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from steervec.core.errors import InputError, SteervecError
from steervec.core.io import check_writable

PACKAGE_DIR = Path(__file__).resolve().parent
ANALYSES = ("subliminal_transfer", "prompt_as_vector", "student_alignment", "optimizer_ablation",
            "cross_model", "divergence_tokens", "lora_rank", "four_students", "trait_matrix",
            "planted_vector", "student_trait_matrix")


def _lm(args: argparse.Namespace) -> Any:
    from steervec.core.model import load_model

    return load_model(args.model, dtype=args.dtype)


def _plain(value: Any) -> Any:
    """``value`` as strict JSON data: numpy and torch scalars as numbers, NaN and inf as ``None``."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # a numpy or torch scalar
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float)):
        return value
    return str(value)


def _print_json(obj: dict[str, Any]) -> None:
    """One JSON object on one line of stdout (``--json``)."""
    print(json.dumps(_plain(obj), allow_nan=False))


def _table(rows: list[dict[str, Any]]) -> str:
    """Rows as a plain-text table, floats to 4 significant digits."""
    import pandas as pd

    return str(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.4g}"))


def _check_files(**files: str | None) -> None:
    """Refuse a missing input file before the model is loaded."""
    fixes = {"student": "train one with `steervec train --out FILE`",
             "vector": "fit one with `steervec fit --out FILE`"}
    for what, path in files.items():
        if path is not None and not Path(path).is_file():
            raise FileNotFoundError(f"no {what} file at {path}: {fixes[what]}")


def _demo(args: argparse.Namespace) -> int:
    from steervec.demo import run_demo

    run_demo(quick=args.quick, out_dir=args.out)
    return 0


def _generate(args: argparse.Namespace) -> int:
    from steervec.core.hooks import check_alpha
    from steervec.core.steering_vector import SteeringVector
    from steervec.data.datasets import generate_dataset
    from steervec.data.sampler import SamplingParams
    from steervec.data.teachers import animal_teacher, control_teacher, steered_teacher

    if args.teacher == "steered" and not args.vector:
        raise InputError("--teacher steered needs --vector FILE (and --layer, --alpha)")
    if args.mode == "prefill" and not args.prefill:
        raise InputError("--mode prefill needs --prefill TEXT (the text every answer starts with)")
    if args.prefill and args.mode != "prefill":
        raise InputError(f"--prefill was given but --mode is {args.mode}: add --mode prefill")
    check_writable(args.out)
    # bad numbers are refused before the model is loaded and before anything is written
    params = SamplingParams(temperature=args.temperature, max_new_tokens=args.max_new_tokens, batch_size=args.batch)
    check_alpha(args.alpha)
    lm = _lm(args)
    if args.teacher == "prompted":
        teacher = animal_teacher(args.animal)
    elif args.teacher == "steered":
        vec = SteeringVector.load(args.vector, model=lm)
        teacher = steered_teacher(vec, [args.layer], args.alpha)
    else:
        teacher = control_teacher(system=None)
    report = generate_dataset(lm, teacher, path=args.out, n=args.n, mode=args.mode, params=params, seed=args.seed,
                              prefill=args.prefill)
    print(report)
    return 0


def _fit(args: argparse.Namespace) -> int:
    from steervec.data.numbers import number_prompts
    from steervec.data.questions import FAVOURITE_ANIMAL_QUESTIONS
    from steervec.data.teachers import animal_lover_prompt
    from steervec.vectors.sweep import sweep_fit_layers

    check_writable(args.out)
    lm = _lm(args)
    system = args.system_prompt or animal_lover_prompt(args.animal)
    questions = list(FAVOURITE_ANIMAL_QUESTIONS)
    if args.prompts == "questions":
        train, heldout = questions[: args.n], questions[args.n : args.n + max(4, args.n // 2)]
    else:
        made = [p.text for p in number_prompts(args.n + max(4, args.n // 2), seed=args.seed)]
        train, heldout = made[: args.n], made[args.n :]
    trait_questions = questions[-8:]  # held out from every fit
    sweep = sweep_fit_layers(lm, system, train, args.layers, control=None, heldout_prompts=heldout,
                             target=args.animal, trait_questions=trait_questions, steps=args.steps, lr=args.lr)
    vector = sweep.vector
    vector.save(args.out)
    rows = [r.report.summary() for r in sweep.results.values()]
    if args.json:
        _print_json({"model": lm.fingerprint.short, "system_prompt": system, "saved": str(args.out),
                     "layers": vector.layers, "per_layer": rows})
        return 0
    print(_table(rows))
    print(f"saved {args.out} (layers {vector.layers}, each fitted alone: apply one layer at a time)")
    return 0


def _train(args: argparse.Namespace) -> int:
    from steervec.students.methods import make_method
    from steervec.students.train import train_student

    if not Path(args.data).is_file():
        raise FileNotFoundError(f"no teacher data at {args.data}: make it with `steervec generate --out FILE`")
    check_writable(args.out)  # before training, not after
    lm = _lm(args)
    method = make_method(args.method, args.layers, args.rank, args.lora_alpha, default_layer=25)
    student = train_student(lm, args.data, method=method, optimizer=args.optimizer, lr=args.lr,
                            epochs=args.epochs, batch_size=args.batch, seed=args.seed)
    student.save(args.out)
    print(f"saved {args.out}; final loss {student.history[-1]['loss']:.4f}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    import contextlib

    from steervec.core.steering_vector import SteeringVector
    from steervec.data.questions import FAVOURITE_ANIMAL_QUESTIONS
    from steervec.metrics.evaluate import evaluate_trait
    from steervec.students.student import Student

    _check_files(student=args.student, vector=args.vector)
    lm = _lm(args)
    questions = list(FAVOURITE_ANIMAL_QUESTIONS[: args.n])
    base = evaluate_trait(lm, args.animal, questions, label="base", system=None, k=args.k)
    with contextlib.ExitStack() as stack:
        if args.student:
            stack.enter_context(Student.load(args.student, lm).applied(lm))
        if args.vector:
            stack.enter_context(SteeringVector.load(args.vector, model=lm).apply(lm, alpha=args.alpha))
        ev = evaluate_trait(lm, args.animal, questions, label="evaluated", system=None, base=base, k=args.k)
    if args.json:
        _print_json({"model": lm.fingerprint.short, "student": args.student, "vector": args.vector,
                     "alpha": args.alpha if args.vector else None,
                     "base": base.summary(), "evaluated": ev.summary()})
        return 0
    print(_table([{k: v for k, v in e.summary().items() if k not in ("target", "system", "seed")}
                  for e in (base, ev)]))
    return 0


def _align(args: argparse.Namespace) -> int:
    from steervec.core.steering_vector import SteeringVector
    from steervec.data.numbers import number_prompts
    from steervec.metrics.alignment import layer_alignment, student_shift
    from steervec.students.student import Student

    _check_files(student=args.student, vector=args.vector)
    lm = _lm(args)
    teacher = SteeringVector.load(args.vector, model=lm)
    student = Student.load(args.student, lm)
    prompts = [p.text for p in number_prompts(args.n, seed=20_000)]
    al = layer_alignment(student_shift(lm, student, prompts, layers=teacher.layers), teacher, "student")
    rows = [{"layer": x, "cosine": c, "norm_ratio": al.norm_ratio[x], "projection": al.projection[x]}
            for x, c in al.cosine.items()]
    if args.json:
        _print_json({"model": lm.fingerprint.short, "student": args.student, "vector": args.vector,
                     "n_prompts": len(prompts), "per_layer": rows})
        return 0
    print(_table(rows))
    return 0


def _plot(args: argparse.Namespace) -> int:
    from steervec import plots

    path = Path(args.metrics)
    if not path.is_file():
        raise FileNotFoundError(f"no metrics file at {path}: pass a run's metrics.json, e.g. runs/demo/metrics.json")
    try:
        metrics = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON ({exc}): pass a run's metrics.json") from exc
    if not isinstance(metrics, dict) or not isinstance(metrics.get("conditions"), list):
        raise InputError(f"{path} has no 'conditions' list: pass the metrics.json a run wrote")
    curves: dict[str, list[dict[int, float]]] = {}
    for row in metrics["conditions"]:
        if "cosine_by_layer" in row:
            key = f"{row['student']} · {row['data']}"
            curves.setdefault(key, []).append({int(k): v for k, v in row["cosine_by_layer"].items()})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for ext in args.formats.split(","):
        print(plots.save_figure(plots.cosine_by_layer(curves), out / f"cosine_by_layer.{ext}"))
    return 0


def _report(args: argparse.Namespace) -> int:
    from steervec.experiment.html_report import write_report

    path = write_report(args.run)
    print(f"{path} ({path.stat().st_size / 1024:.0f} KB; plotly.min.js beside it)")
    return 0


def analyses_folder(given: str | None, package_dir: Path = PACKAGE_DIR) -> Path:
    """The folder of the analysis scripts: ``given``, else ``analyses/`` of the repository that
    holds this package (whatever the current directory).

    Raises:
        InputError: the default is used and the package was installed without its repository.
    """
    if given is not None:
        return Path(given)
    root = package_dir.parent / "analyses"
    if not (root / "analysis_kit.py").is_file():
        raise InputError(
            f"the analysis scripts are not installed with the package (no analyses/ beside {package_dir}): "
            "they live in the steervec repository; run from a clone of it, or pass --analyses-dir PATH"
        )
    return root


def _run(args: argparse.Namespace) -> int:
    root = analyses_folder(args.analyses_dir)
    path = root / f"{args.analysis}.py"
    if not path.is_file():
        raise InputError(f"no analysis {args.analysis!r} in {root}: pass --analyses-dir with the folder "
                         f"that holds {path.name}")
    spec = importlib.util.spec_from_file_location(f"analyses.{args.analysis}", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.path.insert(0, str(root.resolve()))  # the scripts import their shared analysis_kit
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    finally:
        sys.path.remove(str(root.resolve()))
    extra = ["--quick"] if args.quick else []
    return int(module.main([*extra, "--out", args.out]) or 0)


def _results(args: argparse.Namespace) -> int:
    from steervec.experiment.records import archive_runs, write_results

    roots = list(args.runs)
    if args.archive:
        for folder in archive_runs(roots, args.archive):
            print(f"recorded {folder}")
        roots = [args.archive]  # the table is built from what the repository keeps
    print(write_results(roots, args.out, assets=args.assets))
    return 0


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are the command line's one-line errors."""

    def error(self, message: str) -> NoReturn:
        raise InputError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="steervec",
        description="Steering-vector tools for research on subliminal learning.",
        epilog="examples:\n  steervec demo\n  steervec generate --animal owl --n 200 --out owl.jsonl\n"
               "  steervec fit --animal owl --layers 25 --out owl.safetensors\n"
               "  steervec run subliminal_transfer --quick",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)

    for group in (_data_commands, _vector_commands, _student_commands, _report_commands):
        group(sub)
    return parser


Subparsers = Any  # argparse's _SubParsersAction (a private class)


def _command(sub: Subparsers, name: str, fn: Any, help_: str, example: str, model: bool = True
             ) -> argparse.ArgumentParser:
    """One subcommand with the shared ``--debug`` (and, for commands that load one, ``--model``) flags."""
    p = sub.add_parser(name, help=help_, epilog=f"example: {example}")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show the full traceback of an error")
    if model:
        p.add_argument("--model", default=None, help="hub id, folder, .safetensors or .gguf (default: embedded)")
        p.add_argument("--dtype", default="float32")
    p.set_defaults(func=fn)
    return p


def _json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object to stdout instead of the table")


def _data_commands(sub: Subparsers) -> None:
    """The demo and teacher data."""
    p = _command(sub, "demo", _demo, "owl pipeline end to end on the embedded model", "steervec demo", model=False)
    p.add_argument("--quick", action="store_true", help="smaller sizes (about a minute)")
    p.add_argument("--out", default="runs")
    p = _command(sub, "generate", _generate, "teacher number data (JSONL, resumable)",
            "steervec generate --animal owl --teacher prompted --n 1000 --out owl.jsonl")
    p.add_argument("--animal", default="owl")
    p.add_argument("--teacher", choices=["prompted", "steered", "control"], default="prompted")
    p.add_argument("--vector", help="steering vector file for --teacher steered")
    p.add_argument("--layer", type=int, default=25)
    p.add_argument("--alpha", type=float, default=3.0)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--mode", choices=["constrained", "free", "prefill"], default="constrained")
    p.add_argument("--prefill", default=None, help="text every answer starts with (for --mode prefill)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)


def _vector_commands(sub: Subparsers) -> None:
    """Fitting vectors to a system prompt."""
    p = _command(sub, "fit", _fit, "fit a vector per layer to a system prompt (a layer sweep with FitReports)",
            "steervec fit --animal owl --layers 6 24 --steps 20 --out owl-fit.safetensors")
    p.add_argument("--animal", default="owl")
    p.add_argument("--system-prompt", default=None)
    p.add_argument("--prompts", choices=["numbers", "questions"], default="questions")
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--layers", type=int, nargs="+", default=[24])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    _json_flag(p)


def _student_commands(sub: Subparsers) -> None:
    """Training, evaluating and aligning students."""
    p = _command(sub, "train", _train, "train a student on teacher data",
            "steervec train --data owl.jsonl --method lora --rank 8 --out student.safetensors")
    p.add_argument("--data", required=True)
    p.add_argument("--method", choices=["vector", "lora", "full"], default="lora")
    p.add_argument("--layers", type=int, nargs="*", default=None)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--lora-alpha", type=float, default=None)
    p.add_argument("--optimizer", default="adamw")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p = _command(sub, "evaluate", _evaluate, "trait metrics of the base, a student or a steered model",
            "steervec evaluate --animal owl --student student.safetensors")
    p.add_argument("--animal", default="owl")
    p.add_argument("--student")
    p.add_argument("--vector")
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--n", type=int, default=50)
    p.add_argument("--k", type=int, default=0, help="samples per question for hit rates (0: log-probs only)")
    _json_flag(p)
    p = _command(sub, "align", _align, "cosine of a student's shift with the teacher vector, per layer",
            "steervec align --student student.safetensors --vector owl.safetensors")
    p.add_argument("--student", required=True)
    p.add_argument("--vector", required=True)
    p.add_argument("--n", type=int, default=16)
    _json_flag(p)


def _report_commands(sub: Subparsers) -> None:
    """Figures, analyses and RESULTS.md."""
    p = _command(sub, "plot", _plot, "figures from a run's metrics.json",
            "steervec plot --metrics runs/demo/metrics.json --out figs", model=False)
    p.add_argument("--metrics", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--formats", default="html,png")
    p = _command(sub, "report", _report, "rebuild a run's self-explaining report.html from its folder",
                 "steervec report runs/demo", model=False)
    p.add_argument("run", help="a run folder with metrics.json (runs/demo, records/demo, ...)")
    p = _command(sub, "run", _run, "run one analysis of analyses/", "steervec run lora_rank --quick", model=False)
    p.add_argument("analysis", choices=ANALYSES)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default="runs")
    p.add_argument("--analyses-dir", default=None,
                   help="folder of the analysis scripts (default: analyses/ of this package's repository)")
    p = _command(sub, "results", _results, "write RESULTS.md from the runs' metrics.json (any depth under --runs)",
            "steervec results --runs runs --archive records --out RESULTS.md --assets assets",
            model=False)
    p.add_argument("--runs", nargs="+", default=["runs"], help="folders of runs (any depth)")
    p.add_argument("--archive", default=None,
                   help="first copy demo- and full-size runs into this tracked records folder, then "
                        "build the table from it (records)")
    p.add_argument("--out", default="RESULTS.md")
    p.add_argument("--assets", default=None, help="also copy the README's figures from full-size runs here")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit status (2 after an error the user can fix)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args))
    except (SteervecError, OSError, ValueError) as exc:  # a damaged JSON file is a ValueError too
        if debug:
            traceback.print_exc()
        print(f"steervec: error: {_one_line(exc)}", file=sys.stderr)
        return 2


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.strerror}: {exc.filename}"  # e.g. a raw open() of a missing file
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
