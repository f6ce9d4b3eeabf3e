"""train_student: determinism, SIGKILL resume, masks, losses, checkpoints, logs and bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from _rows import generated_rows, number_rows
from conftest import INJECTING_TEMPLATE, PLAIN_TEMPLATE, make_tiny

from steervec.core.chat import TEMPLATE_DEFAULT
from steervec.core.errors import ModelMismatchError, SteervecError
from steervec.core.optim import OptimizerConfig
from steervec.core.steering_vector import SteeringVector
from steervec.data.divergence import attach_teacher_topk
from steervec.data.teachers import Teacher
from steervec.students.methods import FullFinetune, LoRA, VectorStudent
from steervec.students.train import NonFiniteLossError, load_rows, response_lengths, train_student

TESTS = Path(__file__).parents[1]  # tests/, where conftest.py and _rows.py live


@pytest.fixture(scope="module")
def lm():
    return make_tiny("llama", INJECTING_TEMPLATE, seed=4)


def _equal(a, b):
    return a.tensors.keys() == b.tensors.keys() and all(torch.equal(a.tensors[k], b.tensors[k]) for k in a.tensors)


@pytest.mark.parametrize("method", [VectorStudent(layers=[2], init="normal"), LoRA(rank=2, dropout=0.2),
                                    FullFinetune(layers=[0])], ids=["vector", "lora", "single"])
def test_same_seed_bit_identical_other_seed_differs(lm, method):
    rows = number_rows(8)
    kw = dict(method=method, lr=1e-2, epochs=1, batch_size=4, progress=False)
    a = train_student(lm, rows, seed=7, **kw)
    b = train_student(lm, rows, seed=7, **kw)
    c = train_student(lm, rows, seed=8, **kw)
    assert _equal(a, b)
    assert not _equal(a, c)
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    assert a.info["system"] == "none" and a.system is None


def test_vector_student_trains_no_weight_gradients_and_backward_stops_at_its_layer(lm):
    seen = {}

    def probe(layer):
        def hook(module, args, output):
            seen[layer] = output[0].requires_grad if isinstance(output, tuple) else output.requires_grad
        return hook

    handles = [lm.layers[i].register_forward_hook(probe(i)) for i in range(lm.n_layers)]
    try:
        train_student(lm, number_rows(4), method=VectorStudent(layers=[2]), lr=1e-2, max_steps=1, progress=False)
    finally:
        for h in handles:
            h.remove()
    # hooks run in registration order: ours saw layer 2's output before the vector was added
    assert seen == {0: False, 1: False, 2: False, 3: True}
    assert all(p.grad is None for p in lm.model.parameters())


def _known_vector(lm):
    g = torch.Generator().manual_seed(5)
    known = torch.randn(lm.d_model, generator=g)
    return known / known.norm() * 3


def test_vector_student_recovers_known_vector_from_sampled_tokens():
    """Hard labels sampled from base + known vector at layer 1: the student's vector, net of
    a control student trained on the base model's own samples, points along the known vector."""
    lm = make_tiny("qwen2", PLAIN_TEMPLATE, seed=0)
    known = _known_vector(lm)
    steered = generated_rows(lm, 32, vector=SteeringVector({1: known}, lm.fingerprint), max_new_tokens=16)
    control = generated_rows(lm, 32, max_new_tokens=16)
    vec = {}
    for name, rows in [("steered", steered), ("control", control)]:
        student = train_student(lm, rows, method=VectorStudent(layers=[1]), lr=3e-2, epochs=6, progress=False)
        vec[name] = student.tensors["layer.1"]
        assert student.history[-1]["loss"] < student.history[0]["loss"]

    def cos(v):
        return float(torch.cosine_similarity(v, known, dim=0))

    assert cos(vec["steered"]) > cos(vec["control"])
    assert cos(vec["steered"] - vec["control"]) > 0.25


def test_vector_student_recovers_known_vector_by_soft_distillation():
    """KL to the steered teacher's full distribution: the optimum is the known vector itself."""
    lm = make_tiny("qwen2", PLAIN_TEMPLATE, seed=1)
    known = _known_vector(lm)
    vec = SteeringVector({1: known}, lm.fingerprint)
    rows = generated_rows(lm, 16, vector=vec, max_new_tokens=12)
    rows = attach_teacher_topk(lm, rows, Teacher("steered", system=None, steering=vec), k=len(lm.tokenizer),
                               progress=False)
    student = train_student(lm, rows, method=VectorStudent(layers=[1]), lr=5e-2, epochs=10, loss="kl",
                            progress=False)
    learned = student.tensors["layer.1"]
    assert float(torch.cosine_similarity(learned, known, dim=0)) > 0.8
    assert student.history[-1]["loss"] < 0.2 * student.history[0]["loss"]


def test_masks_change_the_gradient(lm):
    rows = number_rows(4)
    lengths = response_lengths(lm, rows)
    kw = dict(method=VectorStudent(layers=[1]), optimizer="sgd", lr=1.0, max_steps=1, batch_size=4, progress=False)
    plain = train_student(lm, rows, **kw)
    all_true = train_student(lm, rows, loss_masks=[[True] * n for n in lengths], **kw)
    first = train_student(lm, rows, loss_masks=[[k < 3 for k in range(n)] for n in lengths], **kw)
    last = train_student(lm, rows, loss_masks=[[k >= 3 for k in range(n)] for n in lengths], **kw)
    assert torch.allclose(plain.tensors["layer.1"], all_true.tensors["layer.1"], atol=1e-7)
    assert not torch.allclose(first.tensors["layer.1"], last.tensors["layer.1"], atol=1e-5)
    # token-mean loss: the full gradient is the token-weighted mix of the two halves
    n_first, n_last = 3 * len(rows), sum(lengths) - 3 * len(rows)
    mix = (n_first * first.tensors["layer.1"] + n_last * last.tensors["layer.1"]) / (n_first + n_last)
    assert torch.allclose(mix, plain.tensors["layer.1"], atol=1e-5)
    assert first.history[0]["tokens"] == n_first


def test_kl_to_own_distribution_is_zero_and_trains(lm):
    rows = number_rows(6)
    same = Teacher("base", system=None)
    scored = attach_teacher_topk(lm, rows, same, k=len(lm.tokenizer), progress=False)
    s = train_student(lm, scored, method=VectorStudent(layers=[1]), lr=1e-2, loss="kl", max_steps=1, progress=False)
    assert abs(s.history[0]["loss"]) < 1e-5
    steer = SteeringVector({2: torch.randn(lm.d_model) * 3}, lm.fingerprint)
    other = attach_teacher_topk(lm, rows, Teacher("steered", system=None, steering=steer), k=20, progress=False)
    s = train_student(lm, other, method=VectorStudent(layers=[2]), lr=5e-2, loss="kl", epochs=5, batch_size=3,
                      progress=False)
    assert s.history[0]["loss"] > 0.01
    assert s.history[-1]["loss"] < s.history[0]["loss"]
    with pytest.raises(ValueError, match="teacher log-probs"):
        train_student(lm, rows, method=VectorStudent(layers=[1]), lr=1e-2, loss="kl", progress=False)


def test_log_callbacks_and_checkpoints(lm, tmp_path):
    events = []
    rows = number_rows(10)
    s = train_student(lm, rows, method=VectorStudent(layers=[1]), lr=1e-2, epochs=2, batch_size=4, progress=False,
                      checkpoint_dir=tmp_path / "ck", checkpoint_every=2, keep_checkpoints=2,
                      log_path=tmp_path / "log.jsonl", callbacks=[events.append])
    assert [e.step for e in events] == [2, 4, 6]
    assert events[-1].student.tensors.keys() == s.tensors.keys()
    assert all(torch.equal(events[-1].student.tensors[k], s.tensors[k]) for k in s.tensors)
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["step-00000004", "step-00000006"]
    log = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [1, 2, 3, 4, 5, 6]
    assert {"step", "loss", "lr", "grad_norm", "tokens", "tokens_per_s"} <= set(log[0])
    # a finished run in the same folder is resumed, not retrained
    again = train_student(lm, rows, method=VectorStudent(layers=[1]), lr=1e-2, epochs=2, batch_size=4, progress=False,
                          checkpoint_dir=tmp_path / "ck", checkpoint_every=2)
    assert _equal(again, s)
    with pytest.raises(SteervecError, match="refusing to resume.*lr"):
        train_student(lm, rows, method=VectorStudent(layers=[1]), lr=2e-2, epochs=2, batch_size=4, progress=False,
                      checkpoint_dir=tmp_path / "ck", checkpoint_every=2)


_CHILD = textwrap.dedent("""
    import sys, time, torch
    torch.set_num_threads(1)
    sys.path.insert(0, {tests!r})
    from conftest import make_tiny, INJECTING_TEMPLATE
    from _rows import number_rows
    from steervec.students import {method}
    from steervec.students.train import train_student
    lm = make_tiny("llama", INJECTING_TEMPLATE, seed=4)
    s = train_student(lm, number_rows(12), method={method}({args}), optimizer="adamw", lr=1e-2, epochs=2,
                      batch_size=2, seed=3, checkpoint_dir=sys.argv[1], checkpoint_every=3,
                      log_path=sys.argv[2], progress=False, callbacks=[lambda event: time.sleep(0.3)])
    s.save(sys.argv[3])
""")


def test_sigkill_and_resume_is_bit_identical(tmp_path, method="LoRA", args="rank=2, dropout=0.1"):
    """LoRA with dropout: resuming must restore weights, Adam moments, the dropout RNG and the data position."""
    from steervec.students.student import Student

    script = tmp_path / "child.py"
    script.write_text(_CHILD.format(tests=str(TESTS), method=method, args=args))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def run(ck, log, out):
        return [sys.executable, str(script), str(tmp_path / ck), str(tmp_path / log), str(tmp_path / out)]

    reference = subprocess.Popen(run("ref", "ref.jsonl", "ref.safetensors"), env=env)  # uninterrupted
    child = subprocess.Popen(run("ck", "log.jsonl", "out.safetensors"), env=env)
    log = tmp_path / "log.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and child.poll() is None:  # kill mid-run, past a checkpoint
        if log.exists() and len(log.read_text().splitlines()) >= 5:
            child.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    assert child.wait() == -signal.SIGKILL
    killed_at = len(log.read_text().splitlines())
    assert 5 <= killed_at < 12 and not (tmp_path / "out.safetensors").exists()
    subprocess.run(run("ck", "log.jsonl", "out.safetensors"), check=True, env=env)
    assert reference.wait() == 0
    ref, out = Student.load(tmp_path / "ref.safetensors"), Student.load(tmp_path / "out.safetensors")
    assert _equal(ref, out)
    assert [h["loss"] for h in ref.history] == [h["loss"] for h in out.history]
    steps = [json.loads(x)["step"] for x in log.read_text().splitlines()]
    assert steps == list(range(1, 13))


def test_nan_loss_stops_and_keeps_last_good_checkpoint(lm, tmp_path):
    class Poison(torch.optim.SGD):
        calls = 0

        def step(self, closure=None):
            Poison.calls += 1
            out = super().step(closure)
            if Poison.calls == 3:
                with torch.no_grad():
                    for group in self.param_groups:
                        for p in group["params"]:
                            p.fill_(float("nan"))
            return out

    before = {k: v.clone() for k, v in lm.model.state_dict().items()}
    with pytest.raises(NonFiniteLossError, match="step 4") as err:
        train_student(lm, number_rows(12), method=FullFinetune(layers=[1]), optimizer=Poison, lr=1e-3,
                      batch_size=2, checkpoint_dir=tmp_path, checkpoint_every=2, progress=False)
    assert err.value.step == 4
    assert err.value.last_checkpoint.name == "step-00000002"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-00000002"]
    after = lm.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # base restored


def test_bad_input(lm, tmp_path):
    kw = dict(method=VectorStudent(layers=[1]), lr=1e-2, progress=False)
    with pytest.raises(ValueError, match="empty"):
        train_student(lm, [], **kw)
    rows = number_rows(3)
    with pytest.raises(ValueError, match="every row is masked"):
        train_student(lm, rows, loss_masks=[[False] * n for n in response_lengths(lm, rows)], **kw)
    with pytest.raises(ValueError, match="response tokens"):
        train_student(lm, rows, loss_masks=[[True]] * 3, **kw)
    other = make_tiny("qwen2", PLAIN_TEMPLATE).fingerprint
    foreign = number_rows(3, model=vars(other))
    with pytest.raises(ModelMismatchError, match="same base model"):
        train_student(lm, foreign, **kw)
    own = number_rows(3, model=vars(lm.fingerprint))
    assert train_student(lm, own, max_steps=1, **kw).info["steps"] == 1
    with pytest.raises(ValueError, match="unknown optimizer.*adamw"):
        train_student(lm, rows, method=VectorStudent(layers=[1]), optimizer="adamz", lr=1e-2)
    with pytest.raises(ValueError, match="lr must be"):
        train_student(lm, rows, method=VectorStudent(layers=[1]), lr=0.0)
    with pytest.raises(ValueError, match="beside an OptimizerConfig"):
        train_student(lm, rows, method=VectorStudent(layers=[1]), optimizer=OptimizerConfig(), lr=1e-2)
    with pytest.raises(ValueError, match="0..3"):
        train_student(lm, rows, **{**kw, "method": VectorStudent(layers=[9])})


def test_jsonl_dataset_optimizer_config_and_bf16(lm, tmp_path):
    rows = number_rows(6)
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in rows))
    assert load_rows(path) == rows
    cfg = OptimizerConfig("signsgd", lr=1e-3, schedule="cosine", warmup=1, grad_clip=1.0)
    s = train_student(lm, path, method=LoRA(rank=2), optimizer=cfg, batch_size=3, epochs=2,
                      autocast="bfloat16", progress=False)
    assert s.info["args"]["optimizer"]["label"] == "signsgd"
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in s.history)
    assert s.history[0]["lr"] < s.history[1]["lr"]  # warm-up
    t = train_student(lm, rows, method=VectorStudent(layers=[1]), lr=1e-2, max_steps=1, system="Be terse.",
                      progress=False)
    assert t.system == "Be terse."
    assert train_student(lm, rows, method=VectorStudent(layers=[1]), lr=1e-2, max_steps=1,
                         system=TEMPLATE_DEFAULT, progress=False).system is TEMPLATE_DEFAULT


def _varied_rows(n: int = 16) -> list:
    """Number rows whose lengths vary (1 to 9 numbers), so a padded batch carries padding."""
    from steervec.data.rows import TeacherRow
    g = torch.Generator().manual_seed(3)
    return [TeacherRow(prompt=f"go {' '.join(str(int(x)) for x in torch.randint(10, 99, (1 + i % 5,), generator=g))}",
                       completion=", ".join(str(int(x)) for x in torch.randint(100, 999, (1 + (7 * i) % 9,), generator=g)),
                       index=i) for i in range(n)]


def test_length_groups_cut_where_padding_costs_more_than_a_group():
    from steervec.students.train import length_groups
    lengths = [100, 30, 32, 101, 31, 99]
    groups = length_groups(range(6), lengths, overhead=10)
    assert groups == [[1, 4, 2], [5, 0, 3]]  # sorted, the two length clusters apart
    assert length_groups(range(6), lengths, overhead=10_000) == [[1, 4, 2, 5, 0, 3]]  # one group
    assert length_groups(range(6), lengths, overhead=0) == [[1], [4], [2], [5], [0], [3]]  # no padding at all
    assert sorted(i for g in length_groups([5, 3, 0], lengths) for i in g) == [0, 3, 5]  # each row once


@pytest.mark.parametrize("method,loss", [(VectorStudent(layers=[2]), "ce"), (LoRA(rank=2), "ce"),
                                         (FullFinetune(layers=[1]), "ce"), (VectorStudent(layers=[1]), "kl_online")],
                         ids=["vector", "lora", "single", "vector-online"])
def test_length_groups_train_the_student_padding_would(lm, method, loss):
    """Groups (default) and one padded batch compute the same loss and gradient, up to float rounding;
    ``padding="batch"`` is the trainer before groups, bit for bit (two runs agree exactly)."""
    rows = _varied_rows()
    extra = {"teacher": Teacher(system="You like owls.")} if loss == "kl_online" else {}
    runs = {p: train_student(lm, rows, method=method, lr=1e-2, batch_size=8, epochs=2, seed=1, progress=False,
                             loss=loss, padding=p, **extra) for p in ("groups", "batch")}
    grouped, padded = runs["groups"], runs["batch"]
    assert [h["tokens"] for h in grouped.history] == [h["tokens"] for h in padded.history]
    assert sum(h["tokens_in"] for h in grouped.history) == sum(h["tokens_in"] for h in padded.history)
    for a, b in zip(grouped.history, padded.history, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5, abs=1e-6)
    for name, t in padded.tensors.items():  # Adam flips the sign of updates whose gradient rounds near 0:
        diff = (grouped.tensors[name] - t).norm() / t.norm()  # an L2 tolerance, not an elementwise one
        assert diff < 1e-4, (name, float(diff))
    again = train_student(lm, rows, method=method, lr=1e-2, batch_size=8, epochs=2, seed=1, progress=False,
                          loss=loss, padding="batch", **extra)
    assert _equal(again, padded)


def test_padding_setting_is_checked(lm):
    with pytest.raises(ValueError, match="padding must be"):
        train_student(lm, number_rows(8), method=VectorStudent(layers=[1]), lr=1e-2, padding="none", progress=False)
