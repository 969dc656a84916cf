"""Test doubles that ship with gcop (the offline models a run may name are not doubles: they live
with their layer, :mod:`gcop.evals.providers` and :mod:`gcop.train.offline_models`).

* :mod:`gcop.testing.fake_anthropic`: a fake Anthropic Messages API with injected faults (also
  ``python -m gcop.testing.fake_anthropic`` for an offline server). gcop itself never uses it.
* :mod:`gcop.testing.plugin`: the pytest fixtures (``fake_anthropic``), loaded by the root
  ``conftest.py`` (or ``-p gcop.testing.plugin`` in another project's tests).
"""
