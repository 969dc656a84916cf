"""Handles never stand in for data: an object of the solution that is not plain data reaches the
judge as a handle, and where the reference solution's answers are data (``TestJob.handle_ops``,
from ``handle_ops_of(reference)``) arithmetic, conversions, indexing and iteration on it are
refused, so a "liar" object (``__sub__`` says 0.0, ``__float__`` says what the caller wants,
iteration yields nothing) passes none of the assertion forms that compare through them. Where
the reference itself answers with objects (a class with ``__add__``, a generator) those
operations stay, and honest solutions pass.
"""

from __future__ import annotations

import pytest

from gcop.sandbox.protocol import TestJob, handle_ops_of
from tests.sandbox.test_sandbox_attacks import (
    FAILED,
    PASSED,
    Case,
    judge_batch,
    kind,  # noqa: F401 - the executor fixture (docker, local)
    src,
)

pytestmark = pytest.mark.slow

LIAR = src(
    """
    import itertools

    _values = itertools.count()

    class Liar:
        # every operation a test might compare through, answering whatever passes
        def __sub__(self, other):
            return 0.0
        __rsub__ = __add__ = __radd__ = __sub__
        def __abs__(self):
            return 0.0
        def __float__(self):
            return float(next(_values))  # a new value for every caller
        def __round__(self, digits=None):
            return 0
        def __iter__(self):
            return iter(())
        def __contains__(self, item):
            return True
        def __len__(self):
            return 2
        def __getitem__(self, index):
            return 1
        def __index__(self):
            return 2

    def f(x):
        return Liar()
    """
)
#: A second liar, for what is not arithmetic: it equals, orders and hashes like anything, shows
#: itself as "2.0", is true, and answers every method call with True.
FLATTERER = src(
    """
    class Flatterer:
        def __str__(self):
            return "2.0"
        __repr__ = __str__
        def __format__(self, spec):
            return "2.0"
        def __eq__(self, other):
            return True
        def __ne__(self, other):
            return True
        def __lt__(self, other):
            return True
        __le__ = __gt__ = __ge__ = __lt__
        def __hash__(self):
            return hash(2.0)
        def __bool__(self):
            return True
        def __getattr__(self, name):
            return lambda *args, **kwargs: True

    def f(x):
        if x == 3:  # a dict, as data, whose missing keys the solution's own code answers
            import collections
            return collections.defaultdict(lambda: "2.0")
        return Flatterer()
    """
)
HONEST = "def f(x):\n    return [1.0, 2.0] if x == 0 else 2.0\n"
REFERENCE = HONEST  # its answers are data

#: Assertion forms a test compares answers with (``f(1)`` is 2.0, ``f(0)`` the list [1.0, 2.0]).
FORMS = {
    "abs-difference": "assert abs(f(1) - 2.0) < 1e-6",
    "abs-reflected": "assert abs(2.0 - f(1)) < 1e-6",
    "round-difference": "assert round(f(1) - 2.0, 6) == 0",
    "math-isclose": "import math\n    assert math.isclose(f(1), 2.0)",
    "math-pow": "import math\n    assert math.pow(f(1), 2) == 4.0",
    "float": "assert float(f(1)) == 2.0",
    "approx": "import pytest\n    assert f(1) == pytest.approx(2.0)",
    "unittest-almost-equal": "import unittest\n    unittest.TestCase().assertAlmostEqual(f(1), 2.0)",
    "unittest-in": "import unittest\n    unittest.TestCase().assertIn(2.0, f(0))",
    "in": "assert 2.0 in f(0)",
    "loop": "for x in f(0):\n        assert x > 0\n    assert len(f(0)) == 2",
    "sorted": "assert sorted(f(0)) == [1.0, 2.0]",
    "index": "assert f(0)[1] == 2.0 and len(f(0)) == 2",
    "numpy-allclose": "import numpy as np\n    assert np.allclose(f(1), 2.0)",
    "numpy-isclose": "import numpy as np\n    assert np.isclose(f(1), 2.0)",
    "numpy-testing": "import numpy as np\n    np.testing.assert_array_almost_equal(f(0), [1.0, 2.0])",
    "range-over-len": "for i in range(len(f(0))):\n        assert f(0)[i] > 0",
}
#: Forms the flatterer is made for (``f(1)`` is 2.0, ``f(2)`` 2.0 too; a text answer, "2.0", has
#: str methods).
OBJECT_FORMS = {
    "str": "assert str(f(1)) == '2.0'",
    "f-string": "assert f'{f(1)}' == '2.0'",
    "percent": "assert '%s' % f(1) == '2.0'",
    "repr": "assert repr(f(1)) == '2.0'",
    "truth": "assert f(1)",
    "hash": "assert hash(f(1)) == hash(2.0)",
    "handles-equal": "assert f(1) == f(2)",
    "in-list": "assert f(1) in [f(2), 7]",
    "set": "assert len({f(1), f(2)}) == 1",
    "max": "assert max(f(1), f(2)) == f(2)",
    "method": "assert str(f(1)).startswith('2') and f(1).startswith('2')",
    "numpy-round": "import numpy as np\n    assert np.round(f(1), 2) == 2.0",
    "numpy-all": "import numpy as np\n    assert np.all(f(1))",
    "defaultdict": "assert f(3)['total'] == '2.0'",
}


def _test(body: str) -> str:
    return f"from solution import *\n\ndef test_form():\n    {body}\n"


def _job(solution: str, form: str, *, id: str, reference: str | None = REFERENCE) -> TestJob:
    body = FORMS.get(form) or OBJECT_FORMS[form]
    return TestJob("pytest", solution, _test(body), timeout=20, id=id,
                   handle_ops=None if reference is None else handle_ops_of(reference))


def test_the_reference_decides_which_operations_a_handle_may_do():
    assert handle_ops_of(REFERENCE) == ()
    vector = "class Vector:\n    def __add__(self, other):\n        pass\n    __radd__ = __add__\n"
    assert handle_ops_of(vector) == ("add", "attributes", "compare", "radd", "text")
    assert set(handle_ops_of("def gen(n):\n    yield from range(n)\n")) >= {"iter", "next", "contains"}
    assert set(handle_ops_of("import itertools\ndef pairs(x):\n    return itertools.combinations(x, 2)\n")) >= {"iter"}
    # a class built on a builtin brings dunders the source does not show: all of them
    assert "sub" in handle_ops_of("class Stack(list):\n    pass\n")
    # exceptions cross as exceptions, not handles
    assert handle_ops_of("class Bad(ValueError):\n    pass\ndef f():\n    return 1\n") == ()
    assert "iter" in handle_ops_of("from enum import Enum\nclass Colour(Enum):\n    RED = 1\n")


def test_a_liar_object_passes_no_form_where_the_reference_answers_data(kind):
    """Each form fails for the liar and passes for the honest solution, in one warm sandbox."""
    cases = []
    for form in FORMS:
        cases.append(Case(_job(LIAR, form, id=f"liar-{form}"), FAILED))
        cases.append(Case(_job(HONEST, form, id=f"honest-{form}"), PASSED))
    verdicts = judge_batch(kind, cases, controls=False)
    for form in ("abs-difference", "float", "loop"):
        assert "refused" in verdicts[f"liar-{form}"].output, verdicts[f"liar-{form}"].output[-600:]
    assert verdicts["honest-abs-difference"].extra["boundary"]["handle_ops"] == "none"


def test_a_flattering_object_passes_no_form_where_the_reference_answers_data(kind):
    """Comparing two of the solution's objects, their truth, hash, text and methods are the
    sample's own code: refused where the reference answers with data (it defines no class)."""
    honest = "def f(x):\n    return '2.0'\n"  # its answers are text, so str methods are data methods
    cases = []
    for form in OBJECT_FORMS:
        cases.append(Case(_job(FLATTERER, form, id=f"flatterer-{form}", reference=honest), FAILED))
    cases.append(Case(_job(honest, "method", id="honest-method", reference=honest), PASSED))
    judge_batch(kind, cases, controls=False)


def test_without_a_reference_handle_operations_are_allowed_and_counted(kind):
    """A job that names no reference keeps the old behaviour, but says so: the liar's pass is
    counted as decided through a handle, never "by value"."""
    verdicts = judge_batch(kind, [Case(_job(LIAR, "abs-difference", id="liar-unbounded", reference=None), PASSED)],
                           controls=False)
    boundary = verdicts["liar-unbounded"].extra["boundary"]
    assert boundary["handle_ops"] == "any"
    assert boundary["handle_data_ops"] >= 1
    assert boundary["tests_through_handle"] == 1 and boundary["tests_by_value"] == 0


VECTOR = src(
    """
    class Vector:
        def __init__(self, x, y):
            self.x, self.y = x, y
        def __add__(self, other):
            return Vector(self.x + other.x, self.y + other.y)
        def __eq__(self, other):
            return isinstance(other, Vector) and (self.x, self.y) == (other.x, other.y)
        def __len__(self):
            return 2
    """
)
GENERATOR = "def countdown(n):\n    while n > 0:\n        yield n\n        n -= 1\n"


def test_objects_the_reference_also_answers_with_keep_their_operations(kind):
    """A class the reference defines with ``__add__`` adds; a generator the reference yields from
    iterates. The same candidate where the reference returns a list fails: a generator is not a
    list (a type mismatch is a wrong answer)."""
    vector_test = src(
        """
        from solution import *

        def test_add():
            assert Vector(1, 2) + Vector(3, 4) == Vector(4, 6)
            assert len(Vector(0, 0)) == 2
        """
    )
    countdown_test = "from solution import *\n\ndef test_countdown():\n    assert list(countdown(3)) == [3, 2, 1]\n"
    as_list = "def countdown(n):\n    return list(range(n, 0, -1))\n"
    judge_batch(kind, [
        Case(TestJob("pytest", VECTOR, vector_test, timeout=20, id="vector", handle_ops=handle_ops_of(VECTOR)), PASSED),
        Case(TestJob("pytest", GENERATOR, countdown_test, timeout=20, id="generator",
                     handle_ops=handle_ops_of(GENERATOR)), PASSED),
        Case(TestJob("pytest", GENERATOR, countdown_test, timeout=20, id="generator-for-a-list",
                     handle_ops=handle_ops_of(as_list)), FAILED),
        Case(TestJob("pytest", as_list, countdown_test, timeout=20, id="list", handle_ops=handle_ops_of(as_list)),
             PASSED),
    ], controls=False)


# --------------------------------------------------------------------------- empty arrays

# Found by a review: an array with no elements compares vacuously true (pytest.approx and numpy's
# closeness checks take all() over no elements), so it "equals" any expected value. Data, not a
# handle: only the reference's kind of answer can tell it from an honest empty result.
MEAN = "def average(xs):\n    return sum(xs) / len(xs)\n\ndef scaled(xs):\n    return [x / sum(xs) for x in xs]\n"
EMPTY = "import numpy as np\n\ndef average(xs):\n    return np.empty(0)\n\ndef scaled(xs):\n    return np.empty((len(xs), 0))\n"
VACUOUS_FORMS = {
    "approx": "assert average([1, 2, 3, 4]) == pytest.approx(2.5)",
    "approx-list": "assert scaled([1, 2, 3]) == pytest.approx([1 / 6, 2 / 6, 3 / 6])",
    "allclose": "assert np.allclose(average([1, 2, 3, 4]), 2.5)",
    "isclose-all": "assert np.isclose(scaled([1, 1]), [0.5, 0.5]).all()",
    "assert_allclose": "np.testing.assert_allclose(average([1, 2, 3, 4]), 2.5)",
    "equal-all": "assert (np.asarray(average([2, 2])) == 2).all()",
}
NONZERO = "import numpy as np\n\ndef nonzero(xs):\n    return np.array([x for x in xs if x], dtype=float)\n"


def _vacuous_test(body: str) -> str:
    return f"import numpy as np\nimport pytest\nfrom solution import *\n\ndef test_form():\n    {body}\n"


def test_an_empty_array_is_a_wrong_answer_where_the_reference_uses_no_numpy(kind):
    """Ten runs of each form in one warm sandbox: the empty answer fails every time; the honest
    one passes; and where the reference itself answers with numpy arrays, an honest empty result
    still passes."""
    assert "empty_arrays" not in handle_ops_of(MEAN) and "empty_arrays" in handle_ops_of(NONZERO)
    assert "empty_arrays" in handle_ops_of("from scipy import stats\ndef z(xs):\n    return stats.zscore(xs)\n")
    cases = []
    for form, body in VACUOUS_FORMS.items():
        for run in range(10):
            cases.append(Case(TestJob("pytest", EMPTY, _vacuous_test(body), timeout=20, id=f"empty-{form}-{run}",
                                      handle_ops=handle_ops_of(MEAN)), FAILED))
        cases.append(Case(TestJob("pytest", MEAN, _vacuous_test(body), timeout=20, id=f"honest-{form}",
                                  handle_ops=handle_ops_of(MEAN)), PASSED))
    empty_result = "assert np.array_equal(nonzero([0, 0]), np.array([]))\n    assert nonzero([0, 2]).tolist() == [2.0]"
    cases.append(Case(TestJob("pytest", NONZERO, _vacuous_test(empty_result), timeout=20, id="numpy-reference",
                              handle_ops=handle_ops_of(NONZERO)), PASSED))
    verdicts = judge_batch(kind, cases, controls=False)
    assert "an empty numpy array" in verdicts["empty-approx-0"].reason
