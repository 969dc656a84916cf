"""Test doubles that ship with gcop but that gcop itself never uses: the fake Anthropic Messages
API (:mod:`gcop.testing.fake_anthropic`, also ``python -m gcop.testing.fake_anthropic`` for an
offline server, and the ``fake_anthropic`` pytest fixture). Nothing outside ``tests/``, ``bench/``
and this package imports them."""
