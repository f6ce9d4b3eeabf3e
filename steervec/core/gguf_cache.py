"""A float32 safetensors copy of a GGUF model, built once, written atomically, verified in full on reuse.

Dequantising a GGUF file through ``transformers`` takes seconds to tens of seconds;
reloading the cached copy takes a fraction of a second. The cache folder holds what
``save_pretrained`` writes plus ``steervec-cache.json``: the source file and, for each
file, its size and the SHA-256 of its whole content (``sha256``; ``digest``, a hash of the
first and last MiB, is kept for older steervec versions that read the same cache).

Every reuse hashes every file in full, so damage anywhere — not only at the ends —
is caught and the copy is rebuilt (atomically, under a lock: concurrent loaders wait
and then reuse it). Cost, measured once for SmolLM2-135M (a 538 MB ``model.safetensors``),
hash and rebuild in the same run on the project's 2-core machine while it was shared
(load ≈ 11): hashing the file takes 1.2 s, 1.2 % of a rebuild (100 s there; ≈ 12 s on an
idle machine), and is paid on every load on top of the ≈ 0.1 s reload. A build refuses
weights that are not finite, so a cache that passes the hash check holds finite
weights. A cache written before whole-file hashes were stored is rebuilt once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch

from steervec.core.errors import CorruptFileError, SteervecError
from steervec.core.io import atomic_dir
from steervec.core.locks import exclusive_lock

MANIFEST = "steervec-cache.json"
_log = logging.getLogger(__name__)


def ends_digest(path: Path) -> str:
    """SHA-256 of the size and the first and last MiB (what older steervec versions check)."""
    size = path.stat().st_size
    hasher = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        hasher.update(handle.read(1 << 20))
        if size > 2 << 20:
            handle.seek(size - (1 << 20))
            hasher.update(handle.read(1 << 20))
    return hasher.hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of the whole file, read in 1 MiB blocks."""
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def _check_file(folder: Path, name: str, meta: dict[str, Any]) -> None:
    path = folder / name
    if path.stat().st_size != meta["size"]:
        raise ValueError(f"{name} has {path.stat().st_size} bytes, not {meta['size']}")
    if "sha256" not in meta:
        raise ValueError("it was written before whole-file hashes were stored (rebuilt once)")
    if file_sha256(path) != meta["sha256"]:
        raise ValueError(f"the content of {name} changed")


def verify_gguf_cache(folder: Path) -> bool:
    """True when every file listed in the folder's manifest is present, of its size and of its full hash."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        files: dict[str, dict[str, Any]] = manifest["files"]
        if not any(name.endswith(".safetensors") for name in files):
            raise ValueError("no weights listed")
        for name, meta in files.items():
            _check_file(folder, name, meta)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        _log.warning("steervec cache %s is damaged or outdated (%s); rebuilding it", folder, exc)
        return False
    return True


def load_gguf_hf(path: Path) -> tuple[Any, Any]:
    """Load a GGUF file through transformers, dequantised to float32."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name)
    except ImportError as exc:
        raise SteervecError(
            f"loading {path.name} needs the gguf package: run `pip install gguf` ({exc})"
        ) from exc
    except (ValueError, KeyError, NotImplementedError) as exc:
        raise SteervecError(
            f"transformers cannot load {path.name}: {exc}. Its architecture may not be "
            "supported for GGUF by this transformers version; convert the model to a "
            "safetensors folder (config.json + weights) and load that folder instead"
        ) from exc
    return model, tok


def check_finite(model: torch.nn.Module, source: Path) -> None:
    """Raise :class:`CorruptFileError` naming the first parameter with NaN or infinite weights."""
    for name, param in model.named_parameters():
        bad = int((~torch.isfinite(param.detach())).sum())
        if bad:
            raise CorruptFileError(
                f"{source} dequantises to {bad} non-finite weights in {name}: the file is damaged; "
                "download it again (nothing was cached)"
            )


def build_gguf_cache(path: Path, folder: Path) -> None:
    """Dequantise ``path`` and write its float32 copy to ``folder`` atomically (finite weights only)."""
    model, tok = load_gguf_hf(path)
    check_finite(model, path)
    # A GGUF-loaded model keeps its quantizer and refuses save_pretrained; the weights
    # are already dequantised, so forget the quantizer before saving.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False
    with atomic_dir(folder) as tmp:  # replaces a damaged folder only once the new one is complete
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        files = {
            p.name: {"size": p.stat().st_size, "digest": ends_digest(p), "sha256": file_sha256(p)}
            for p in sorted(tmp.iterdir())
            if p.is_file()
        }
        manifest = {"source": str(path), "source_size": path.stat().st_size, "files": files}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))


def cached_copy(path: Path, folder: Path) -> Path:
    """``folder`` holding a verified float32 copy of ``path``, built (or rebuilt) if needed.

    Builders take the folder's lock and wait for each other; the second one finds the
    copy the first one built and only verifies it.
    """
    if folder.exists() and verify_gguf_cache(folder):
        return folder
    with exclusive_lock(folder, "model cache", wait=True):
        if not (folder.exists() and verify_gguf_cache(folder)):
            build_gguf_cache(path, folder)
    return folder
