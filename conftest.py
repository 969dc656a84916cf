"""The root conftest: gcop's pytest fixtures (gcop.testing.plugin) for every test folder."""

pytest_plugins = ["gcop.testing.plugin"]
