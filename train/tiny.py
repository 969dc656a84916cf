"""A tiny, random-weight Qwen3 guide built offline: for tests, the smoke config and benchmarks.

Nothing here touches the Hugging Face Hub. :func:`build_tokenizer` trains a byte-level BPE
tokenizer (``tokenizers``) on a few hundred strings -- the guide's prompts, problem texts and
synthetic guide outputs -- and wraps it in a ``PreTrainedTokenizerFast`` with a Qwen-style chat
template; :func:`build_model` makes a Qwen3 causal LM of a few hundred thousand parameters from a
config; :func:`save_tiny_guide` saves both where ``from_pretrained`` (TRL, Inspect's ``hf/``
provider) can load them.

Tokens are laid out the way Qwen3's are: ``<|im_start|>``, ``<|im_end|>`` (the end of turn and
eos) and ``<|endoftext|>`` (pad) are *special*; ``<think>``, ``</think>``, ``<strategy>`` and
``</strategy>`` are added as single tokens but *not* special, so decoders that skip special
tokens (Inspect's ``hf`` provider, TRL) keep them in the text.

:func:`synthetic_guide_output` writes a well-formed, non-leaking guide output for a problem (a
stand-in for the teacher's accepted outputs), and :func:`synthetic_corpus` an accepted-corpus
JSONL of them (fields ``problem``, ``guide_output``, ``benchmark``, ``id``).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from gcop.evals.benchmarks import get_benchmark
from gcop.guides.prompts import GUIDE_SYSTEM_TEMPLATES, GUIDE_USER_TEMPLATES

__all__ = [
    "CHAT_TEMPLATE",
    "NON_SPECIAL_TOKENS",
    "SPECIAL_TOKENS",
    "build_model",
    "build_tokenizer",
    "save_tiny_guide",
    "synthetic_corpus",
    "synthetic_guide_output",
]

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
NON_SPECIAL_TOKENS = ("<think>", "</think>", "<strategy>", "</strategy>")

#: Qwen-style ChatML: ``<|im_start|>role\ncontent<|im_end|>\n`` per message; the generation
#: prompt opens the assistant turn. A prompt rendered alone is a prefix of the prompt plus its
#: completion (what TRL's completion-only SFT loss needs).
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

_THOUGHTS = {
    "math": [
        "Find the quantities given and the one asked for.",
        "This is a rate problem; track the units.",
        "Several steps: totals first, then the difference.",
        "Percentages apply to the original amount.",
        "Work backwards from what is asked.",
    ],
    "code": [
        "Parse the input, then one pass over the data.",
        "A dictionary gives constant-time lookups.",
        "Sort first, then two pointers.",
        "Handle the empty input before the main loop.",
        "Recursion with memoisation keeps it fast.",
    ],
}

_STEPS = {
    "math": [
        "List each quantity given in the problem.",
        "Write the relation between the quantities.",
        "Compute the intermediate totals one at a time.",
        "Convert every amount to the same unit.",
        "Apply the percentage to the right base.",
        "Combine the partial results as the question asks.",
        "Check that the result answers the question asked.",
    ],
    "code": [
        "Keep the exact function name and signature.",
        "Handle empty input and single elements first.",
        "Use a dictionary to count or index the items.",
        "Loop once over the input and update the state.",
        "Return the result in the required type.",
        "Raise the required exception for invalid input.",
        "Check off-by-one boundaries at both ends.",
    ],
}


def synthetic_guide_output(problem: str, domain: str = "math", *, seed: int | str | None = None) -> str:
    """A short, well-formed guide output (think block, then one strategy block of 2-4 steps).

    Deterministic for a given ``(problem, domain, seed)``. It never contains a number other
    than step numbers, so it cannot leak a math answer, and never contains code.
    """
    if domain not in _STEPS:
        raise ValueError(f"domain must be 'math' or 'code', got {domain!r}")
    rng = random.Random(f"{domain}|{seed}|{problem}")
    thought = rng.choice(_THOUGHTS[domain])
    steps = rng.sample(_STEPS[domain], rng.randint(2, 4))
    body = "\n".join(f"{i}. {step}" for i, step in enumerate(steps, start=1))
    return f"<think>\n{thought}\n</think>\n<strategy>\n{body}\n</strategy>"


def synthetic_corpus(
    path: str | Path,
    problems: Sequence[Any],
    *,
    benchmark: str = "gsm8k",
    copies: int = 1,
) -> Path:
    """Write an accepted-corpus JSONL of synthetic guide outputs for ``problems``.

    ``problems`` are a benchmark's problem records or plain strings. Each line has
    ``id``, ``problem``, ``guide_output`` and ``benchmark``; ``copies`` outputs per problem.
    """

    spec = get_benchmark(benchmark)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for index, problem in enumerate(problems):
            text = problem if isinstance(problem, str) else str(spec.sample(problem).input)
            pid = f"p{index}" if isinstance(problem, str) else problem.id
            for copy in range(copies):
                row = {"id": pid, "problem": text, "benchmark": benchmark,
                       "guide_output": synthetic_guide_output(text, spec.domain, seed=copy)}
                f.write(json.dumps(row) + "\n")
    return path


def _training_texts(extra: Iterable[str]) -> list[str]:

    texts = list(GUIDE_SYSTEM_TEMPLATES.values()) + list(GUIDE_USER_TEMPLATES.values())
    for domain in _STEPS:
        texts += _THOUGHTS[domain] + _STEPS[domain]
        texts += [synthetic_guide_output(f"seed problem {i}", domain, seed=i) for i in range(20)]
    texts += [str(t) for t in extra]
    texts += ["0 1 2 3 4 5 6 7 8 9 + - * / = $ % ( ) [ ] { } : ; , . ? ! ' \" ` # _ < > \\boxed{N}"]
    return texts


def build_tokenizer(extra_texts: Iterable[str] = (), *, vocab_size: int = 1200) -> Any:
    """A byte-level BPE tokenizer trained on the guide prompts, synthetic outputs and ``extra_texts``.

    Returns a ``PreTrainedTokenizerFast`` with eos ``<|im_end|>``, pad ``<|endoftext|>``, no bos
    (as Qwen3) and :data:`CHAT_TEMPLATE`.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_training_texts(extra_texts), trainer=trainer)
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in NON_SPECIAL_TOKENS])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
        clean_up_tokenization_spaces=False,
        model_max_length=4096,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_model(tokenizer: Any, *, hidden_size: int = 64, layers: int = 2, heads: int = 4,
                kv_heads: int = 2, intermediate_size: int = 128, max_positions: int = 4096, seed: int = 0,
                vocab_size: int | None = None, head_dim: int | None = None) -> Any:
    """A random-weight ``Qwen3ForCausalLM`` sized for ``tokenizer`` (tied embeddings).

    ``vocab_size`` pads the embedding beyond the tokenizer (as Qwen3's own 151,936 rows do), so
    a model can have a real model's shape while the tokenizer stays small and local.
    """
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config = Qwen3Config(
        vocab_size=max(vocab_size or 0, len(tokenizer)),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=head_dim or hidden_size // heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        eos_token_id=eos,
        pad_token_id=pad,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=[eos, pad], pad_token_id=pad, bos_token_id=None)
    return model


def save_tiny_guide(path: str | Path, *, extra_texts: Iterable[str] = (), seed: int = 0, **model_kwargs: Any) -> Path:
    """Build the tiny tokenizer and model and ``save_pretrained`` both to ``path``; returns it."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(extra_texts)
    model = build_model(tokenizer, seed=seed, **model_kwargs)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
