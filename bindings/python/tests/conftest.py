"""Shared fixtures: the reference's codec, loaded beside ours under its own name."""

import importlib.util

import pytest


@pytest.fixture(scope="session")
def reference():
    """hs_py's own ws_codec module, loaded from its file as `reference_ws_codec`.

    Loading it from its file keeps it apart from any swap of
    ``sys.modules["hs_py.ws_codec"]``: this is always the reference's code.
    """
    spec = importlib.util.find_spec("hs_py")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("haystack-py is not installed")
    path = next(iter(spec.submodule_search_locations)) + "/ws_codec.py"
    module_spec = importlib.util.spec_from_file_location("reference_ws_codec", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module
