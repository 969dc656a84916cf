"""The guide package: strategy parser, leakage check, guide prompts and the guide solver (offline,
with Inspect's mockllm; every mock output has explicit usage)."""

from __future__ import annotations

import pytest
from inspect_ai import Task, eval
from inspect_ai.dataset import Sample
from inspect_ai.model import (
    ChatMessageAssistant,
    ContentReasoning,
    ContentText,
    ModelOutput,
    ModelUsage,
    get_model,
)
from inspect_ai.solver import Generate, TaskState, solver

from gcop.guides.prompts import GUIDE_PROMPT_VERSION, guide_messages
from gcop.guides.solver import APPROX_COUNTER, GuideRoleMissingError, guide_role_bound, guide_step, guide_token_counter, strategy_from_state
from gcop.guides.strategy import (
    ParsedStrategy,
    approx_token_count,
    format_strategy,
    leak_reason,
    parse_guide_output,
    strategy_leaks,
)
from tests.conftest import mock_output

# ---------------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------------


def test_valid_strategy():
    parsed = parse_guide_output("<strategy>\n1. Add the two amounts.\n2. Halve it.\n</strategy>")
    assert isinstance(parsed, ParsedStrategy)
    assert parsed.valid and parsed.reason == ""
    assert parsed.strategy == "1. Add the two amounts.\n2. Halve it."
    assert parsed.reasoning is None
    assert parsed.strategy_tokens == approx_token_count(parsed.strategy) > 0


@pytest.mark.parametrize(
    "text,reason",
    [
        ("I will not use tags.", "no <strategy> tag"),
        ("", "no <strategy> tag"),
        ("<strategy>Add them and halve.", "unclosed <strategy>"),
        ("Add them.</strategy>", "</strategy> without <strategy>"),
        ("</strategy>Add them.<strategy>", "reversed tags: </strategy> before <strategy>"),
        ("<strategy>a <strategy>b</strategy> c</strategy>", "nested <strategy> tags"),
        ("<strategy>Add.</strategy>\n<strategy>Halve.</strategy>", "2 strategy blocks"),
        ("<strategy>a</strategy><strategy>b</strategy><strategy>c</strategy>", "3 strategy blocks"),
        ("<strategy>a</strategy></strategy>", "unbalanced strategy tags (1 <strategy>, 2 </strategy>)"),
        ("<strategy> \n\t </strategy>", "empty strategy"),
        ("<think>planning <strategy>x</strategy>", "unclosed <think>"),
        ("<think>plan</think><think>more", "unclosed <think>"),
        ("<think><strategy>Add.</strategy></think>\nThat is my plan.", "no <strategy> tag outside <think>"),
    ],
)
def test_invalid_outputs_give_specific_reasons(text, reason):
    parsed = parse_guide_output(text)
    assert not parsed.valid
    assert parsed.reason == reason
    assert parsed.strategy is None and parsed.strategy_tokens == 0


def test_over_budget_is_invalid_but_keeps_the_strategy():
    body = " ".join(["word"] * 700)
    parsed = parse_guide_output(f"<strategy>{body}</strategy>")
    assert not parsed.valid
    assert parsed.reason == "strategy has 700 tokens, budget 512"
    assert parsed.strategy == body and parsed.strategy_tokens == 700
    assert parse_guide_output(f"<strategy>{body}</strategy>", max_strategy_tokens=700).valid


def test_budget_uses_the_callers_token_counter():
    text = "<strategy>one two three</strategy>"
    parsed = parse_guide_output(text, max_strategy_tokens=5, count_tokens=lambda s: len(s))
    assert not parsed.valid and parsed.reason == "strategy has 13 tokens, budget 5"
    assert parse_guide_output(text, max_strategy_tokens=3).valid


def test_approx_token_count_is_deterministic_and_splits_digits_and_symbols():
    assert approx_token_count("Add 18 apples, then halve.") == 1 + 2 + 1 + 1 + 1 + 1 + 1
    assert approx_token_count("") == 0
    assert approx_token_count("a  \n b") == 2


def test_think_wrapped_output():
    parsed = parse_guide_output("<think>\nThe problem is two steps.\n</think>\n\n<strategy>Add, then halve.</strategy>")
    assert parsed.valid
    assert parsed.reasoning == "The problem is two steps."
    assert parsed.strategy == "Add, then halve."


def test_only_closing_think_when_the_template_opened_it():
    parsed = parse_guide_output("The problem is two steps.\n</think>\n\n<strategy>Add, then halve.</strategy>")
    assert parsed.valid
    assert parsed.reasoning == "The problem is two steps."
    assert parsed.strategy == "Add, then halve."


def test_strategy_inside_think_does_not_count_when_another_follows():
    text = "<think>Draft: <strategy>wrong</strategy></think><strategy>right</strategy>"
    parsed = parse_guide_output(text)
    assert parsed.valid and parsed.strategy == "right"
    assert "wrong" in (parsed.reasoning or "")


def test_reasoning_passed_separately():
    parsed = parse_guide_output("<strategy>Add, then halve.</strategy>", reasoning="  Two steps.  ")
    assert parsed.valid and parsed.reasoning == "Two steps."
    assert parsed.raw == "<strategy>Add, then halve.</strategy>"
    # Separate reasoning plus a think block in the text: both are kept.
    both = parse_guide_output("<think>more</think><strategy>x</strategy>", reasoning="first")
    assert both.reasoning == "first\n\nmore"


def test_crlf_line_endings():
    text = "<think>a\r\nb</think>\r\n<strategy>\r\n1. Add.\r\n2. Halve.\r\n</strategy>\r\n"
    parsed = parse_guide_output(text)
    assert parsed.valid
    assert parsed.strategy == "1. Add.\n2. Halve."
    assert parsed.reasoning == "a\nb"
    assert parsed.raw == text


def test_surrounding_prose_and_tag_case_are_tolerated():
    text = "Sure! Here is my plan.\n<STRATEGY>\nAdd, then halve.\n</Strategy>\nGood luck."
    parsed = parse_guide_output(text)
    assert parsed.valid and parsed.strategy == "Add, then halve."


def test_to_dict_round_trips_fields():
    parsed = parse_guide_output("<strategy>x</strategy>")
    assert parsed.to_dict() == {
        "raw": "<strategy>x</strategy>", "reasoning": None, "strategy": "x",
        "valid": True, "reason": "", "strategy_tokens": 1,
    }


def test_format_strategy_is_canonical_and_parses_back():
    block = format_strategy("  1. Add.\n2. Halve.\n")
    assert block == "<strategy>\n1. Add.\n2. Halve.\n</strategy>"
    assert parse_guide_output(block).strategy == "1. Add.\n2. Halve."
    with pytest.raises(ValueError):
        format_strategy("   ")
    with pytest.raises(ValueError):
        format_strategy("a <strategy> b")


# ---------------------------------------------------------------------------------------------
# Leakage
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "strategy,gold",
    [
        ("So the answer is 18.", "18"),
        ("She ends with $18 in total.", "18"),
        ("It comes to 18.0 dollars.", "18"),
        ("Total: 1,800 apples.", "1800"),
        ("Total: 1800 apples.", "$1,800"),
        ("Result 0.5 hours", ".5"),
        ("Check that you get 18 (not 20).", "18.00"),
    ],
)
def test_math_leaks(strategy, gold):
    assert strategy_leaks(strategy, domain="math", gold_answer=gold)
    assert "18" in (leak_reason("it is 18", domain="math", gold_answer="18") or "")


@pytest.mark.parametrize(
    "strategy,gold",
    [
        ("There are about 180 items.", "18"),
        ("Each weighs 1.8 kg.", "18"),
        ("Multiply 18.5 by two.", "18"),
        ("It is the 18th day; x18 is a label.", "18"),
        ("Add the amounts, then halve.", "18"),
        ("1. Add the amounts.\n2. Halve the result.\nStep 3: check.", "2"),
        ("Use 20-1 = 19 and 1,8 are not it.", "18"),
        ("Anything.", None),
        ("Anything with 5.", "not a number"),
    ],
)
def test_math_non_leaks(strategy, gold):
    assert not strategy_leaks(strategy, domain="math", gold_answer=gold)


@pytest.mark.parametrize(
    "strategy",
    [
        "Write it like this:\n```python\ndef add(a, b):\n    return a + b\n```",
        "1. Implement:\n   def add(a, b):\n       total = a + b\n       return total\n2. Done.",
        "Just use `def add(a, b): return a + b`.",
        "def add(a, b):\n    \"\"\"Sum.\"\"\"\n    if a < 0:\n        a = -a\n    return a + b\n",
        "```\nasync def add(a, b):\n    return a + b\n```",
    ],
)
def test_code_leaks(strategy):
    assert strategy_leaks(strategy, domain="code", entry_point="add")
    assert leak_reason(strategy, domain="code", entry_point="add") == "strategy contains an implementation of add"


@pytest.mark.parametrize(
    "strategy",
    [
        "Implement `add(a, b)` by summing the arguments.",
        "Keep the signature `def add(a, b) -> int:` exactly.",
        "Keep the signature:\n```python\ndef add(a, b):\n    \"\"\"Return the sum.\"\"\"\n    ...\n```",
        "Stub:\n```python\ndef add(a, b):\n    pass\n```",
        "def add(a, b):\n    raise NotImplementedError\n",
        "A helper is fine:\n```python\ndef add_all(xs):\n    return sum(xs)\n```",
        "Write def add(a, b) that returns the sum of a and b.",
    ],
)
def test_code_non_leaks(strategy):
    assert not strategy_leaks(strategy, domain="code", entry_point="add")


def test_code_leak_for_a_class_or_any_definition_without_entry_point():
    stack = "```python\nclass Stack:\n    def push(self, x):\n        self.items.append(x)\n```"
    assert strategy_leaks(stack, domain="code", entry_point="Stack")
    assert strategy_leaks("def helper(x):\n    return 2 * x", domain="code", entry_point=None)
    assert not strategy_leaks("Sort the list, then scan it once.", domain="code", entry_point=None)


def test_leak_check_rejects_an_unknown_domain():
    with pytest.raises(ValueError):
        strategy_leaks("x", domain="chess")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Prompts
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("domain", ["math", "code"])
def test_guide_messages(domain):
    problem = "Compute {x} for f(x) = \\frac{1}{2}x.  "
    system, user = guide_messages(domain, problem, 300)
    assert system.role == "system" and user.role == "user"
    # The offline gcop/reference model recognises guide calls by <strategy> in the system prompt.
    assert "<strategy>" in system.text and "<think>" in system.text
    assert "300 tokens" in system.text
    assert problem.strip() in user.text  # braces survive
    assert GUIDE_PROMPT_VERSION == "guide-v1"
    with pytest.raises(ValueError):
        guide_messages("chess", problem, 300)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Solver, end to end in Inspect
# ---------------------------------------------------------------------------------------------

GOOD = "<think>Two steps.</think>\n<strategy>Add the two amounts, then halve.</strategy>"


def _task(*solvers, input: str = "Tom has 3 apples and gets 5 more. Half are eaten. How many are left?") -> Task:
    return Task(dataset=[Sample(input=input, target="4", id="s1")], solver=list(solvers))


def _main_model(calls: list[int] | None = None):
    """The main (core) model: it must never be called by the guide step."""

    def output(*args):
        if calls is not None:
            calls.append(1)
        return mock_output("main model output")

    return get_model("mockllm/model", custom_outputs=output)


def _run(task, tmp_path, **kwargs):
    kwargs.setdefault("model", _main_model())
    [log] = eval(task, display="none", log_dir=str(tmp_path), **kwargs)
    return log


def test_guide_step_stores_the_parsed_strategy_and_counts_role_usage(tmp_path):
    seen = []

    caps = []

    def guide_output(messages, tools, tool_choice, config):
        seen.append(messages)
        caps.append(config.max_tokens)
        return mock_output(GOOD, input_tokens=40, output_tokens=12)

    main_calls: list[int] = []
    guide = get_model("mockllm/model", custom_outputs=guide_output)
    log = _run(_task(guide_step("math")), tmp_path, model=_main_model(main_calls), model_roles={"guide": guide})
    assert log.status == "success", log.error
    [sample] = log.samples
    guide_md = sample.metadata["guide"]
    assert guide_md == {
        "raw": GOOD, "reasoning": "Two steps.", "strategy": "Add the two amounts, then halve.",
        "valid": True, "reason": "", "strategy_tokens": approx_token_count("Add the two amounts, then halve."),
        "input_tokens": 40, "output_tokens": 12, "stop_reason": "stop", "max_tokens": 1536,
        "token_counter": APPROX_COUNTER,
        "model": "mockllm/model", "prompt_version": GUIDE_PROMPT_VERSION,
        # no guide folder: the task's sampling (the provider's defaults), said so
        "sampling": {"temperature": None, "top_p": None, "top_k": None, "source": "the task's"},
    }
    # The call itself ran under the cap: a think budget of 1,024 plus the 512-token strategy budget.
    assert caps == [1536]
    # The guide saw the guide prompt with the problem; the core's conversation is untouched.
    [messages] = seen
    assert messages[0].role == "system" and "<strategy>" in messages[0].text
    assert "Tom has 3 apples" in messages[1].text
    assert [m.role for m in sample.messages] == ["user"]
    assert main_calls == []
    # Usage is attributed to the role, per sample and per eval.
    assert sample.role_usage["guide"].input_tokens == 40
    assert sample.role_usage["guide"].output_tokens == 12
    assert sample.model_usage["mockllm/model"].output_tokens == 12
    assert log.stats.role_usage["guide"].output_tokens == 12
    [event] = [e for e in sample.events if e.event == "model"]
    assert event.role == "guide"


def test_reasoning_channel_is_read(tmp_path):
    message = ChatMessageAssistant(
        content=[ContentReasoning(reasoning="Think about halves."), ContentText(text="<strategy>Halve it.</strategy>")],
        model="mockllm/model",
    )
    output = ModelOutput.from_message(message)
    output.usage = ModelUsage(input_tokens=10, output_tokens=8, total_tokens=18)
    assert output.completion == "<strategy>Halve it.</strategy>"  # text parts only
    guide = get_model("mockllm/model", custom_outputs=[output])
    log = _run(_task(guide_step("math")), tmp_path, model_roles={"guide": guide})
    guide_md = log.samples[0].metadata["guide"]
    assert guide_md["valid"] is True
    assert guide_md["reasoning"] == "Think about halves."
    assert guide_md["raw"] == "<strategy>Halve it.</strategy>"


def test_invalid_strategy_is_flagged(tmp_path):
    guide = get_model("mockllm/model", custom_outputs=[mock_output("I will just answer: 4.")])
    log = _run(_task(guide_step("math")), tmp_path, model_roles={"guide": guide})
    assert log.status == "success"
    guide_md = log.samples[0].metadata["guide"]
    assert guide_md["valid"] is False and guide_md["reason"] == "no <strategy> tag"
    assert guide_md["strategy"] is None
    assert "guide" in log.samples[0].role_usage


def test_budget_and_problem_override(tmp_path):
    seen = []

    def guide_output(messages, *args):
        seen.append(messages)
        return mock_output("<strategy>" + "step " * 20 + "</strategy>")

    guide = get_model("mockllm/model", custom_outputs=guide_output)
    step = guide_step("code", max_strategy_tokens=10, problem=lambda state: "Write add(a, b).")
    log = _run(_task(step), tmp_path, model_roles={"guide": guide})
    guide_md = log.samples[0].metadata["guide"]
    assert guide_md["valid"] is False and guide_md["reason"] == "strategy has 20 tokens, budget 10"
    assert "Write add(a, b)." in seen[0][1].text and "Tom" not in seen[0][1].text
    assert "10 tokens" in seen[0][0].text


def test_missing_guide_role_is_a_clear_error_and_never_falls_back_to_the_main_model(tmp_path):
    main_calls: list[int] = []
    log = _run(_task(guide_step("math")), tmp_path, model=_main_model(main_calls), fail_on_error=False)
    [sample] = log.samples
    assert sample.error is not None
    assert "--model-role guide=<model>" in sample.error.message
    assert "GuideRoleMissingError" in sample.error.traceback
    assert main_calls == []
    assert "guide" not in sample.metadata
    # With the default fail_on_error the whole eval fails with the same message.
    log = _run(_task(guide_step("math")), tmp_path)
    assert log.status == "error" and "--model-role guide=" in log.error.message


def test_optional_guide_role_leaves_the_state_alone(tmp_path):
    log = _run(_task(guide_step("math", required=False)), tmp_path)
    assert log.status == "success"
    assert "guide" not in log.samples[0].metadata


def test_guide_call_errors_propagate(tmp_path):
    def boom(*args):
        raise RuntimeError("guide server is down")

    guide = get_model("mockllm/model", custom_outputs=boom)
    log = _run(_task(guide_step("math")), tmp_path, model_roles={"guide": guide}, fail_on_error=False)
    [sample] = log.samples
    assert sample.error is not None and "guide server is down" in sample.error.message
    assert "guide" not in sample.metadata


@solver
def _record_role_bound():
    async def solve(state: TaskState, generate: Generate) -> TaskState:
        state.metadata["bound"] = guide_role_bound()
        state.metadata["bound_other"] = guide_role_bound("critic")
        state.metadata["from_state"] = strategy_from_state(state)
        return state

    return solve


def test_guide_role_bound_and_strategy_from_state(tmp_path):
    guide = get_model("mockllm/model", custom_outputs=[mock_output(GOOD)])
    log = _run(_task(guide_step("math"), _record_role_bound()), tmp_path, model_roles={"guide": guide})
    metadata = log.samples[0].metadata
    assert metadata["bound"] is True and metadata["bound_other"] is False
    assert metadata["from_state"]["strategy"] == "Add the two amounts, then halve."

    log = _run(_task(_record_role_bound()), tmp_path)
    metadata = log.samples[0].metadata
    assert metadata["bound"] is False and metadata["from_state"] is None
    assert guide_role_bound() is False  # outside an eval: no roles


def test_guide_role_bound_via_a_model_name_string(tmp_path):
    """``model_roles={"guide": "mockllm/model"}`` (what --model-role does) binds the role too."""
    log = _run(_task(_record_role_bound()), tmp_path, model_roles={"guide": "mockllm/model"})
    assert log.samples[0].metadata["bound"] is True


def test_guide_step_rejects_bad_arguments():
    with pytest.raises(ValueError):
        guide_step("chess")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        guide_step("math", max_strategy_tokens=0)
    assert issubclass(GuideRoleMissingError, ValueError)


def test_strategy_tokens_use_the_guides_own_tokenizer_when_it_is_here(tmp_path):
    pytest.importorskip("transformers")
    from gcop.train.tiny import build_tokenizer

    tokenizer = build_tokenizer()
    folder = tmp_path / "guide"
    tokenizer.save_pretrained(folder)
    count, how = guide_token_counter(f"hf/{folder}")
    text = "Add the two amounts, then halve the sum."
    assert how == f"tokenizer of {folder}"
    assert count(text) == len(tokenizer.encode(text, add_special_tokens=False))
    # not here (or not self-hosted): the one documented approximation, said so
    assert guide_token_counter(f"hf/{tmp_path / 'missing'}")[1] == APPROX_COUNTER
    assert guide_token_counter("anthropic/claude-haiku-4-5") == (approx_token_count, APPROX_COUNTER)


def test_one_reasoning_extractor_keeps_a_redacted_blocks_summary():
    """The guide step and acceptance sampling read reasoning through the same function: plain
    reasoning kept, a redacted block contributes its summary (its raw text is encrypted)."""
    from inspect_ai.model import ChatMessageAssistant, ContentReasoning, ContentText, ModelOutput

    import gcop.train.accept
    from gcop.guides.solver import reasoning_text

    assert gcop.train.accept.reasoning_text is reasoning_text
    output = ModelOutput.from_message(ChatMessageAssistant(content=[
        ContentReasoning(reasoning="step one"),
        ContentReasoning(reasoning="ENCRYPTED", redacted=True, summary="a summary"),
        ContentReasoning(reasoning="opaque", redacted=True),
        ContentText(text="<strategy>\n1. Add.\n</strategy>"),
    ]))
    assert reasoning_text(output) == "step one\n\na summary"
    assert reasoning_text(ModelOutput.from_content("m", "plain text")) is None
