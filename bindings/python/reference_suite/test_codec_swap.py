"""Run with the reference's suites: checks that hs_py runs on haystack_wire's codec."""

import importlib
import sys

import haystack_wire.ws_codec as ours


def test_importing_hs_py_ws_codec_gives_this_package_module():
    assert importlib.import_module("hs_py.ws_codec") is ours
    assert sys.modules["hs_py.ws_codec"] is ours


def test_the_reference_server_encodes_and_decodes_with_this_package_functions():
    from hs_py import ws_server

    for name in ("decode_binary_frame", "encode_binary_push", "encode_binary_response", "encode_chunked_frames"):
        assert getattr(ws_server, name) is getattr(ours, name), name
    assert ws_server.ChunkAssembler is ours.ChunkAssembler


def test_the_reference_client_encodes_and_decodes_with_this_package_functions():
    from hs_py import ws_client

    for name in ("decode_binary_frame", "encode_binary_request"):
        assert getattr(ws_client, name) is getattr(ours, name), name
    assert ws_client.ChunkAssembler is ours.ChunkAssembler


def test_the_reference_package_exports_this_package_functions():
    import hs_py

    assert hs_py.decode_binary_frame is ours.decode_binary_frame
    assert hs_py.encode_binary_request is ours.encode_binary_request
    assert ours.decode_binary_frame.__module__ == "haystack_wire.ws_codec"
