"""Chat rendering with explicit control of the system turn, and left-padded batches with masks.

Three system-prompt conditions are kept distinct everywhere in steervec:

* a string: a system turn with that text;
* ``None``: **really no system turn**, even for templates (SmolLM2, Qwen2.5) that inject
  their own default system prompt when a conversation has none;
* :data:`TEMPLATE_DEFAULT`: whatever the template does with no system message, the
  injected default included. :func:`template_info` shows what that default is.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import torch
from torch import Tensor

from steervec.core.errors import InputError, PositionError, SteervecError
from steervec.core.model import LanguageModel, as_language_model
from steervec.core.positions import KEYWORDS, PositionKeyword, mask_position_ids


class _TemplateDefault(enum.Enum):
    TEMPLATE_DEFAULT = "template_default"

    def __repr__(self) -> str:
        return "TEMPLATE_DEFAULT"


TEMPLATE_DEFAULT = _TemplateDefault.TEMPLATE_DEFAULT
"""System condition: let the chat template decide (it may inject a default system prompt)."""

System: TypeAlias = "str | None | _TemplateDefault"
Message = dict[str, str]
Prompt: TypeAlias = "str | Sequence[Message]"

_S, _U = "\x00STEERVEC_SYSTEM\x00", "\x00STEERVEC_USER\x00"


def check_texts(texts: object, name: str = "prompts", allow_empty: bool = False) -> None:
    """Refuse one bare string where a sequence of texts (prompts, questions, completions) is expected.

    A string is itself a sequence, so without this check each of its characters would
    silently become a prompt.

    Args:
        texts: the argument to check.
        name: its name, for the message.
        allow_empty: accept an empty sequence.
    """
    if isinstance(texts, (str, bytes)):
        text = texts.decode(errors="replace") if isinstance(texts, bytes) else texts
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise InputError(
            f"{name} is one string ({shown!r}), not a sequence of {name}: wrap it in a list, "
            f"e.g. [{shown!r}]"
        )
    if not allow_empty and len(texts) == 0:  # type: ignore[arg-type]
        raise InputError(f"no {name} given: pass at least one")


def describe_system(system: System) -> str:
    """A short, unambiguous label of a system condition for provenance and tables:
    ``"none"``, ``"template_default"`` or ``"prompt:<text>"`` (inverse: :func:`system_from_label`)."""
    if system is None:
        return "none"
    if system is TEMPLATE_DEFAULT:
        return "template_default"
    return f"prompt:{system}"


def system_from_label(label: str | None) -> System:
    """The system condition a label of :func:`describe_system` names (``None`` reads as ``"none"``).

    Example:
        >>> system_from_label("template_default") is TEMPLATE_DEFAULT
        True
        >>> system_from_label(describe_system("You love owls."))
        'You love owls.'
    """
    if label is None or label == "none":
        return None
    if label == "template_default":
        return TEMPLATE_DEFAULT
    if not label.startswith("prompt:"):
        raise ValueError(f"unknown system label {label!r}: use 'none', 'template_default' or 'prompt:<text>'")
    return label.removeprefix("prompt:")


@dataclass(frozen=True)
class TemplateInfo:
    """How a tokenizer's chat template treats the system turn.

    Attributes:
        has_system_turn: the template renders a separate system turn.
        injects_default: with no system message it inserts one of its own.
        default_system: the injected text, if any.
        system_header / user_header: the text opening a system / user turn.
    """

    has_system_turn: bool
    injects_default: bool
    default_system: str | None
    system_header: str
    user_header: str


def _apply(tokenizer: Any, messages: list[Message], add_generation_prompt: bool) -> str:
    if not getattr(tokenizer, "chat_template", None):
        raise SteervecError(
            "this tokenizer has no chat template: pass one with "
            "load_model(..., chat_template='{% for m in messages %}...') or set "
            "lm.tokenizer.chat_template to a Jinja string"
        )
    text = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=add_generation_prompt
    )
    return str(text)


def template_info(tokenizer: Any) -> TemplateInfo:
    """Work out how the chat template renders (or injects) the system turn."""
    cached = getattr(tokenizer, "_steervec_template_info", None)
    key = tokenizer.chat_template
    if cached is not None and cached[0] == key:
        return cached[1]
    with_sys = _apply(tokenizer, [{"role": "system", "content": _S}, {"role": "user", "content": _U}], False)
    user_only = _apply(tokenizer, [{"role": "user", "content": _U}], False)
    p, q = with_sys.index(_S), with_sys.index(_U)
    before_s, before_u = with_sys[:p], with_sys[:q]
    header_s = header_u = ""
    for k in range(len(before_s), 0, -1):
        cand = before_s[-k:]
        if "system" in cand and before_u.endswith(cand.replace("system", "user", 1)):
            header_s, header_u = cand, cand.replace("system", "user", 1)
            break
    if not header_s:  # no separate system turn (e.g. Gemma folds it into the user turn)
        info = TemplateInfo(False, False, None, "", "")
    else:
        start = p - len(header_s)
        no_system = with_sys[:start] + with_sys[q - len(header_u) :]
        injects = user_only != no_system
        default = None
        if injects:
            # the injected block sits where ours did: read its text off the user-only render
            end_marker = with_sys[p + len(_S) : q - len(header_u)]
            body = user_only[start + len(header_s) :]
            cut = body.find(end_marker) if end_marker else -1
            default = body[:cut] if cut >= 0 else None
        info = TemplateInfo(True, injects, default, header_s, header_u)
    tokenizer._steervec_template_info = (key, info)
    return info


def render_chat(
    lm: LanguageModel | Any,
    prompt: Prompt,
    system: System = TEMPLATE_DEFAULT,
    add_generation_prompt: bool = True,
) -> str:
    """Render one conversation to text.

    Args:
        lm: a :class:`LanguageModel` (or a tokenizer).
        prompt: the user message, or a list of ``{"role", "content"}`` messages.
        system: a system prompt, ``None`` (no system turn at all) or
            :data:`TEMPLATE_DEFAULT`. Ignored when ``prompt`` already starts with a
            system message.
        add_generation_prompt: end with the assistant turn's opening.

    Example:
        >>> render_chat(lm, "Name an animal.", system=None)  # doctest: +SKIP
        '<|im_start|>user\\nName an animal.<|im_end|>\\n<|im_start|>assistant\\n'
    """
    tokenizer = getattr(lm, "tokenizer", lm)
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    if not messages:
        raise ValueError("empty conversation: pass a user message or a list of messages")
    if messages[0]["role"] == "system" or system is TEMPLATE_DEFAULT:
        return _apply(tokenizer, messages, add_generation_prompt)
    if isinstance(system, str):
        return _apply(tokenizer, [{"role": "system", "content": system}, *messages], add_generation_prompt)
    if system is not None:
        raise TypeError(f"system must be a str, None or TEMPLATE_DEFAULT, got {system!r}")
    info = template_info(tokenizer)
    if not info.injects_default:
        return _apply(tokenizer, messages, add_generation_prompt)
    # Render with a placeholder system turn and cut that turn out.
    text = _apply(tokenizer, [{"role": "system", "content": _S}, *messages], add_generation_prompt)
    p = text.index(_S)
    start = p - len(info.system_header)
    user_start = text.index(info.user_header, p)
    return text[:start] + text[user_start:]


@dataclass
class ChatBatch:
    """A left-padded batch of rendered conversations.

    Attributes:
        input_ids: ``[batch, seq]`` token ids.
        attention_mask: ``[batch, seq]`` 1 on real tokens, 0 on padding.
        prompt_mask: ``[batch, seq]`` bool, the rendered prompt (template tokens included).
        response_mask: ``[batch, seq]`` bool, the assistant response (its end-of-turn
            token included); all False when no completions were given.
        texts: the rendered prompts.
    """

    input_ids: Tensor
    attention_mask: Tensor
    prompt_mask: Tensor
    response_mask: Tensor
    texts: list[str]

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def last_prompt_index(self) -> Tensor:
        """``[batch]`` position of each row's last prompt token."""
        seq = self.input_ids.shape[1]
        idx = torch.arange(seq, device=self.input_ids.device).expand_as(self.prompt_mask)
        return torch.where(self.prompt_mask, idx, -1).max(dim=1).values

    @property
    def last_prompt_mask(self) -> Tensor:
        """``[batch, seq]`` bool, True only at each row's last prompt token."""
        mask = torch.zeros_like(self.prompt_mask)
        mask[torch.arange(len(self)), self.last_prompt_index] = True
        return mask

    def positions_mask(self, keyword: PositionKeyword) -> Tensor:
        """``[batch, seq]`` bool of a position keyword on this teacher-forced batch: ``"all"`` real
        tokens, ``"prompt"``, ``"response"`` (alias ``"generated"``: the completion tokens) or
        ``"last_prompt"``."""
        if keyword == "all":
            return self.attention_mask.bool()
        if keyword == "prompt":
            return self.prompt_mask
        if keyword in ("response", "generated"):
            return self.response_mask
        if keyword == "last_prompt":
            return self.last_prompt_mask
        raise PositionError(f"unknown positions keyword {keyword!r}: use one of {list(KEYWORDS)}")

    def to(self, device: torch.device | str) -> ChatBatch:
        return ChatBatch(
            self.input_ids.to(device),
            self.attention_mask.to(device),
            self.prompt_mask.to(device),
            self.response_mask.to(device),
            self.texts,
        )

    def model_inputs(self) -> dict[str, Tensor]:
        """Keyword arguments of a forward (or ``generate``): ids, mask and position ids that
        count only real tokens (:func:`~steervec.core.positions.mask_position_ids`), so that
        every row is computed as it would be alone."""
        return {
            "input_ids": self.input_ids,
            "attention_mask": self.attention_mask,
            "position_ids": mask_position_ids(self.attention_mask),
        }


def response_suffix(tokenizer: Any) -> str:
    """Text the template puts after an assistant message (its end-of-turn marker)."""
    sent = "\x00STEERVEC_ASSISTANT\x00"
    text = _apply(
        tokenizer, [{"role": "user", "content": "x"}, {"role": "assistant", "content": sent}], False
    )
    tail = text[text.index(sent) + len(sent) :].rstrip("\n ")
    return tail or (tokenizer.eos_token or "")


def encode_chat(
    lm: LanguageModel | Any,
    prompts: Sequence[Prompt],
    system: System = TEMPLATE_DEFAULT,
    completions: Sequence[str] | None = None,
    device: torch.device | str | None = None,
) -> ChatBatch:
    """Render and tokenize conversations into a left-padded :class:`ChatBatch`.

    Args:
        lm: a :class:`LanguageModel`.
        prompts: user messages (or message lists), one per row.
        system: the system condition for every row (see :func:`render_chat`).
        completions: optional assistant responses, teacher-forced after the prompt;
            they are followed by the template's end-of-turn text.
        device: where to put the tensors (the model's device by default).
    """
    lm = as_language_model(lm)
    tokenizer = lm.tokenizer
    check_texts(prompts, "prompts")
    if completions is not None:
        check_texts(completions, "completions")
    if completions is not None and len(completions) != len(prompts):
        raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions: pass one each")
    rows: list[tuple[list[int], list[int]]] = []
    texts = []
    suffix = response_suffix(tokenizer) if completions is not None else ""
    for i, prompt in enumerate(prompts):
        text = render_chat(lm, prompt, system)
        texts.append(text)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        resp: list[int] = []
        if completions is not None:
            resp_text = completions[i] + suffix
            resp = tokenizer(resp_text, add_special_tokens=False)["input_ids"]
        rows.append((ids, resp))
    seq = max(len(a) + len(b) for a, b in rows)
    n = len(rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    input_ids = torch.full((n, seq), pad, dtype=torch.long)
    attention = torch.zeros((n, seq), dtype=torch.long)
    prompt_mask = torch.zeros((n, seq), dtype=torch.bool)
    response_mask = torch.zeros((n, seq), dtype=torch.bool)
    for i, (ids, resp) in enumerate(rows):
        total = len(ids) + len(resp)
        start = seq - total
        input_ids[i, start:] = torch.tensor(ids + resp, dtype=torch.long)
        attention[i, start:] = 1
        prompt_mask[i, start : start + len(ids)] = True
        response_mask[i, start + len(ids) :] = True
    device = device if device is not None else getattr(lm, "device", "cpu")
    return ChatBatch(input_ids, attention, prompt_mask, response_mask, texts).to(device)
