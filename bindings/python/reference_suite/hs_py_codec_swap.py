"""A pytest plugin that runs hs_py on haystack_wire's codec.

Loaded with ``-p hs_py_codec_swap`` (this folder on ``PYTHONPATH``), it puts
``haystack_wire.ws_codec`` in place of ``hs_py.ws_codec`` before any test
module, and so before hs_py, is imported: hs_py's server, client and package
then import their codec names from this package.
"""

import sys

import haystack_wire.ws_codec

if "hs_py" in sys.modules:
    raise RuntimeError("hs_py was imported before the codec swap; it would keep its own codec")

sys.modules["hs_py.ws_codec"] = haystack_wire.ws_codec
