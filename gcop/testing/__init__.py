"""Test doubles and offline stand-ins that ship with gcop.

* :mod:`gcop.testing.fake_anthropic`: a fake Anthropic Messages API with injected faults (also
  ``python -m gcop.testing.fake_anthropic`` for an offline server). gcop itself never uses it.
* :mod:`gcop.testing.offline_models`: the offline core, judge and teacher (``mockllm/...``) that a
  training config or command may name for a run with no key and no network (the README's CPU
  chain); the training code resolves those names here and nowhere else.
* :mod:`gcop.testing.plugin`: the pytest fixtures (``fake_anthropic``), loaded by the root
  ``conftest.py`` (or ``-p gcop.testing.plugin`` in another project's tests).
"""
