"""Shared pytest configuration: markers and a deterministic hypothesis profile."""

import os

import hypothesis

hypothesis.settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
hypothesis.settings.register_profile("dev", deadline=None)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: opt-in tests (run with -m slow)")


def pytest_collection_modifyitems(config, items):
    """Slow tests run only when asked for with `-m slow`."""
    if "slow" in (config.getoption("-m") or ""):
        return
    import pytest

    skip = pytest.mark.skip(reason="slow: run with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
