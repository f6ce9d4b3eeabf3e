"""Where runs keep what they can share: teacher datasets, teacher vectors and trained students, by content key.

Runs in one ``out_dir`` find a dataset at ``<out_dir>/_datasets/<teacher>-<key>.jsonl``, a
teacher vector at ``<out_dir>/_vectors/<key>.safetensors`` and a student at
``<out_dir>/_students/<key>.safetensors`` (beside it, what a run measured on that student:
``<key>.measures-<key2>.json``; length-matched subsets of the teacher data at
``<out_dir>/_lenmatch/``). A key hashes everything that determines
the file (model fingerprint, toolkit version, teacher, generation or training settings,
seed), so the same key means the same content: datasets resume or are reused by
:func:`steervec.data.datasets.generate_dataset` (which still refuses a manifest mismatch), and
students are bit-reproducible on CPU. Each run links the shared files into its own folder.
On a fresh machine (an empty ``out_dir``) the teacher datasets archived in the records can be
adopted instead of sampled again: :func:`archived_copies` lists them for ``adopt=`` of
:func:`~steervec.data.datasets.generate_dataset` (``$STEERVEC_REUSE_DATA``, ``--reuse-data``).

Example:
    >>> path = dataset_path("runs", lm, animal_teacher("owl"), n=300, params=params)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from steervec.core.io import json_sha
from steervec.core.version import __version__


def dataset_path(out_dir: str | os.PathLike[str], lm: Any, teacher: Any, **spec: Any) -> Path:
    """``<out_dir>/_datasets/<teacher name>-<key>.jsonl`` for ``teacher`` and generation ``spec``."""
    spec = {k: (v.to_dict() if hasattr(v, "to_dict") else v) for k, v in spec.items()}
    key = json_sha({"model": lm.fingerprint.short, "version": __version__, "teacher": teacher.to_dict(), **spec})[:12]
    return Path(out_dir) / "_datasets" / f"{teacher.name}-{key}.jsonl"


def vector_path(out_dir: str | os.PathLike[str], lm: Any, **spec: Any) -> Path:
    """``<out_dir>/_vectors/<key>.safetensors`` for a vector of ``lm`` extracted with ``spec``.

    ``spec`` must hold everything that determines the vector (method, system prompts, the
    prompts themselves or their hash, positions).
    """
    key = json_sha({"model": lm.fingerprint.short, "version": __version__, **spec})[:12]
    return Path(out_dir) / "_vectors" / f"{key}.safetensors"


def means_dir(out_dir: str | os.PathLike[str]) -> Path:
    """``<out_dir>/_vectors/means/``: per-condition mean activations
    (:class:`~steervec.vectors.baselines.ConditionMeans` ``cache_dir``), shared by every trait's
    matched vector on the same prompts."""
    return Path(out_dir) / "_vectors" / "means"


def student_path(out_dir: str | os.PathLike[str], lm: Any, data_path: Path, **settings: Any) -> Path:
    """``<out_dir>/_students/<key>.safetensors`` for a student of ``data_path`` trained with ``settings``.

    ``settings`` must hold everything that changes the student (method, optimiser, lr,
    epochs, batch, seed, layer, system condition) and nothing that does not (display names).
    """
    key = json_sha({"data": Path(data_path).name, "model": lm.fingerprint.short, "version": __version__, **settings})
    return Path(out_dir) / "_students" / f"{key}.safetensors"


def measures_path(student_file: Path, **inputs: Any) -> Path:
    """``<student>.measures-<key>.json`` beside a cached student: what :func:`measure_student
    <steervec.experiment.run.measure_student>` measured on it (its trait scores and its shift, the
    shift in the ``.safetensors`` of the same stem), or what the planted study measured on it, so a
    later run reusing the student reads them instead of evaluating it again.

    ``inputs`` must hold everything the measurement depends on besides the student (questions,
    system condition, samples and their seed, panel, prompts); the key also holds the student
    file's size and modification time, so a student trained again is measured again.
    """
    stat = student_file.stat()
    key = json_sha({"student": student_file.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                    "version": __version__, **inputs})[:16]
    return student_file.with_name(f"{student_file.stem}.measures-{key}.json")


def matched_data_path(out_dir: str | os.PathLike[str], name: str, **spec: Any) -> Path:
    """``<out_dir>/_lenmatch/<name>-<key>.jsonl``: a length-matched subset of cached teacher data.

    ``spec`` must name the source datasets (their file names hold their content keys) and the
    matching seed; the subset is a function of those, so the same key means the same rows.
    """
    key = json_sha({"version": __version__, **spec})[:12]
    return Path(out_dir) / "_lenmatch" / f"{name}-{key}.jsonl"


REUSE_ENV = "STEERVEC_REUSE_DATA"
"""Environment variable: folders (``os.pathsep``-separated) of archived runs whose teacher data a run
adopts instead of sampling it again (:func:`archived_copies`)."""


def archived_copies(folders: str | os.PathLike[str] | list[str] | tuple[str, ...] | None = None) -> list[Path]:
    """Every archived teacher dataset (``data-*.jsonl``) under ``folders`` (default: ``$STEERVEC_REUSE_DATA``),
    for ``adopt=`` of :func:`~steervec.data.datasets.generate_dataset`: a fresh machine then takes a
    record's rows instead of sampling them again, wherever they match row for row.

    Raises:
        InputError: a folder that does not exist.
    """
    from steervec.core.errors import InputError

    if folders is None:
        folders = [f for f in os.environ.get(REUSE_ENV, "").split(os.pathsep) if f]
    elif isinstance(folders, (str, os.PathLike)):
        folders = [str(folders)]
    found: list[Path] = []
    for folder in folders:
        if not Path(folder).is_dir():
            raise InputError(f"no folder {folder} to reuse teacher data from: pass a folder of archived runs "
                             "(e.g. records/full), or leave it out to sample the data")
        found += sorted(Path(folder).rglob("data-*.jsonl"))
    return found


def link(link_path: Path, target: Path) -> None:
    """``link_path`` → ``target`` as a relative symlink (a copy where symlinks are not allowed)."""
    if link_path.is_symlink() or link_path.exists():
        link_path.unlink()
    try:
        link_path.symlink_to(os.path.relpath(target, link_path.parent))
    except OSError:
        shutil.copyfile(target, link_path)


__all__ = ["REUSE_ENV", "archived_copies", "dataset_path", "link", "matched_data_path", "means_dir", "measures_path", "student_path", "vector_path"]
