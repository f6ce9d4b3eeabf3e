"""A float32 safetensors copy of a GGUF model, built once, written atomically, verified on reuse.

Dequantising a GGUF file through ``transformers`` takes seconds to tens of seconds;
reloading the cached copy takes a fraction of a second. The cache folder holds what
``save_pretrained`` writes plus ``steervec-cache.json``: the source file, each file's
size and a SHA-256 of its first and last MiB. A folder whose files do not match is
rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

from steervec.core.errors import SteervecError
from steervec.core.io import atomic_dir

MANIFEST = "steervec-cache.json"
_log = logging.getLogger(__name__)


def _file_digest(path: Path) -> str:
    size = path.stat().st_size
    hasher = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        hasher.update(handle.read(1 << 20))
        if size > 2 << 20:
            handle.seek(size - (1 << 20))
            hasher.update(handle.read(1 << 20))
    return hasher.hexdigest()


def verify_gguf_cache(folder: Path) -> bool:
    """True when every file listed in the folder's manifest is present and unchanged."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        files: dict[str, dict[str, Any]] = manifest["files"]
        for name, meta in files.items():
            path = folder / name
            if path.stat().st_size != meta["size"] or _file_digest(path) != meta["digest"]:
                raise ValueError(f"{name} changed")
        if not any(name.endswith(".safetensors") for name in files):
            raise ValueError("no weights listed")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        _log.warning("steervec cache %s is damaged (%s); rebuilding it", folder, exc)
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


def build_gguf_cache(path: Path, folder: Path) -> None:
    """Dequantise ``path`` and write its float32 copy to ``folder`` atomically."""
    model, tok = load_gguf_hf(path)
    # A GGUF-loaded model keeps its quantizer and refuses save_pretrained; the weights
    # are already dequantised, so forget the quantizer before saving.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False
    if folder.exists():
        shutil.rmtree(folder)
    with atomic_dir(folder) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        files = {
            p.name: {"size": p.stat().st_size, "digest": _file_digest(p)}
            for p in sorted(tmp.iterdir())
            if p.is_file()
        }
        manifest = {"source": str(path), "source_size": path.stat().st_size, "files": files}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
