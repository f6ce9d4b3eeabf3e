"""Seeded fuzzing of the number filter and the JSONL row reader (no extra dependency).

Malformed inputs are made by mutating valid ones at random (fixed seeds, so a failure
reproduces). The filter and the reader may accept or refuse, but never raise anything
else, and never accept something they had to repair: what the filter accepts is exactly
what an independent reading of the reference rule accepts, and every row the reader
returns is its line, field for field, with the documented types.
"""

from __future__ import annotations

import json
import random
import re

import pytest

from steervec.core.errors import CorruptFileError
from steervec.data.datasets import load_dataset
from steervec.data.number_filter import REASONS, FilterConfig, check_numbers
from steervec.data.rows import TeacherRow
from steervec.students.train import load_rows

N_CASES = 4000
SEPARATORS = [", ", ",", "; ", ";", " ", "\n", " , ", "\t"]
NOISE = [" ", "  ", "\n", "\t", ",", ";", ".", "[", "]", "(", ")", "-", "a", "١", "０", "\x00", "1", "99", "1000"]


def valid_list(rng: random.Random) -> str:
    numbers = [str(rng.randint(0, 999)).zfill(rng.choice([1, 1, 1, 3])) for _ in range(rng.randint(1, 11))]
    body = rng.choice(SEPARATORS).join(numbers)
    opening, closing = rng.choice([("", ""), ("", ""), ("[", "]"), ("(", ")")])
    return opening + body + closing + rng.choice(["", "", "."])


def mutate(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(0, 3)):
        i = rng.randint(0, len(text))
        op = rng.choice(["insert", "delete", "duplicate", "swap"])
        if op == "insert":
            text = text[:i] + rng.choice(NOISE) + text[i:]
        elif op == "delete" and text:
            text = text[: max(0, i - 1)] + text[i:]
        elif op == "duplicate" and 0 < i <= len(text):
            text = text[:i] + text[i - 1] + text[i:]
        elif op == "swap" and 1 < i < len(text):
            text = text[: i - 1] + text[i] + text[i - 1] + text[i + 1 :]
    return text


def reference_reading(text: str, max_count: int = 10, max_value: int = 999) -> tuple[int, ...] | None:
    """The reference rule written independently of the library (regular expressions only)."""
    body = text[:-1] if text.endswith(".") else text
    if len(body) >= 2 and body[0] + body[-1] in ("[]", "()"):
        body = body[1:-1]
    first = re.match(r"[0-9]+", body)
    if first is None:
        return None
    if first.end() == len(body):
        numbers: tuple[int, ...] = (int(body),)
    else:
        sep = re.match(r"[^0-9]*", body[first.end() :]).group()  # type: ignore[union-attr]
        if sep.strip() not in ("", ",", ";") or not re.fullmatch(rf"[0-9]+(?:{re.escape(sep)}[0-9]+)*", body):
            return None
        numbers = tuple(int(x) for x in body.split(sep))
    return numbers if len(numbers) <= max_count and all(0 <= x <= max_value for x in numbers) else None


def test_filter_fuzz_matches_the_reference_and_never_raises():
    rng = random.Random(20261203)
    accepted = 0
    lenient = FilterConfig(rule="lenient")
    for _ in range(N_CASES):
        text = mutate(valid_list(rng), rng)
        result = check_numbers(text)
        assert (result.numbers if result.accepted else None) == reference_reading(text), repr(text)
        assert result.accepted == (result.reason is None) and (result.reason is None or result.reason in REASONS)
        loose = check_numbers(text, lenient)
        assert loose.reason is None or loose.reason in REASONS
        if result.accepted:  # the strict rule accepts a subset of the lenient one, with the same numbers
            accepted += 1
            assert loose.accepted and loose.numbers == result.numbers, repr(text)
    assert 0.2 * N_CASES < accepted < 0.8 * N_CASES  # the fuzzer exercises both outcomes


FIELD_VALUES = [None, 0, 7, -1, 1.5, True, False, "", "x", [], [1], {}, {"valid": False}, {"valid": "no"}]


def valid_row(i: int) -> dict:
    return TeacherRow(prompt=f"go on: {i}", completion=f"{i}, {i + 1}", seed=1, index=i, version="t",
                      extra={"valid": i != 1}).to_dict()


def mutate_line(line: str, rng: random.Random) -> str:
    if rng.random() < 0.5:  # a field gets a value of a random type (or goes missing)
        row = json.loads(line)
        field = rng.choice(list(row))
        if rng.random() < 0.15:
            del row[field]
        else:
            row[field] = rng.choice(FIELD_VALUES)
        return json.dumps(row) + "\n"
    data = bytearray(line.encode())
    for _ in range(rng.randint(1, 3)):  # or its bytes are damaged
        i = rng.randrange(len(data))
        op = rng.choice(["flip", "delete", "insert"])
        if op == "flip":
            data[i] = rng.randrange(256)
        elif op == "delete":
            del data[i]
        else:
            data.insert(i, rng.choice(b'{}[]",:\\ 0\n\xff'))
    return data.decode("utf-8", errors="surrogateescape")


TYPES = {"prompt": str, "completion": str, "teacher": dict, "sampling": dict, "model": dict, "version": str,
         "extra": dict}


@pytest.mark.parametrize("seed", range(6))
def test_reader_fuzz_refuses_or_reads_exactly(tmp_path, seed):
    rng = random.Random(seed)
    path = tmp_path / "rows.jsonl"
    outcomes = {"read": 0, "refused": 0}
    for _ in range(150):
        lines = [json.dumps(valid_row(i)) + "\n" for i in range(4)]
        k = rng.randrange(len(lines))
        lines[k] = mutate_line(lines[k], rng)
        data = "".join(lines).encode("utf-8", errors="surrogateescape")
        path.write_bytes(data)
        try:
            rows = load_dataset(path, valid_only=False)
        except CorruptFileError as exc:
            outcomes["refused"] += 1
            assert str(path) in str(exc) and "line" in str(exc)
            with pytest.raises(CorruptFileError):
                load_rows(path)
            continue
        outcomes["read"] += 1
        parsed = [json.loads(line) for line in data.decode().splitlines()]
        assert len(rows) == len(parsed)
        for row, raw in zip(rows, parsed, strict=True):
            assert {k: v for k, v in raw.items() if k in TeacherRow.__dataclass_fields__} == {
                k: getattr(row, k) for k in raw if k in TeacherRow.__dataclass_fields__}  # nothing converted
            assert all(isinstance(getattr(row, k), t) for k, t in TYPES.items())
            assert type(row.index) is int and (row.seed is None or type(row.seed) is int)
            assert isinstance(row.extra.get("valid", True), bool)
        assert load_rows(path) == [r for r in rows if r.extra.get("valid") is not False]
        assert path.read_bytes() == data
    assert outcomes["read"] > 10 and outcomes["refused"] > 10
