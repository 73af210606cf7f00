"""Checks the generated constants module against the reference and our decoder.

The module, `haystack_wire/protocol.py`, is loaded from its file, so these
checks need neither the native extension nor an installed package. Run with a
Python that has haystack-py installed, and HSWIRE set to the path of the
`hswire` binary (`cargo build -p hswire`):

    HSWIRE=target/debug/hswire python -m unittest discover -s bindings/python/tests -p test_protocol.py -v
"""

import asyncio
import base64
import importlib.util
import json
import os
import subprocess
import unittest
import zlib
from pathlib import Path

from hs_py import ws_codec as reference

PROTOCOL = Path(__file__).resolve().parents[1] / "python" / "haystack_wire" / "protocol.py"


def load_protocol():
    """The generated constants module, loaded from its file under its package name."""
    spec = importlib.util.spec_from_file_location("haystack_wire.protocol", PROTOCOL)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {PROTOCOL}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hw = load_protocol()


def decode_with_hswire(*frames: bytes) -> list[dict]:
    """Runs our decoder on `frames` and returns its JSON lines."""
    hswire = os.environ.get("HSWIRE")
    if not hswire:
        raise RuntimeError("HSWIRE must name the hswire binary")
    stdin = "".join(frame.hex() + "\n" for frame in frames)
    result = subprocess.run([hswire, "decode"], input=stdin, capture_output=True, text=True, check=True)
    return [json.loads(line) for line in result.stdout.splitlines()]


class ConstantsMatchTheReference(unittest.TestCase):
    def test_flags(self):
        for name in ("RESPONSE", "ERROR", "PUSH", "COMPRESSED", "CHUNKED"):
            self.assertEqual(getattr(hw, f"FLAG_{name}"), getattr(reference, f"FLAG_{name}"), name)

    def test_algorithms_and_defaults(self):
        for name in ("COMP_ZLIB", "COMP_LZMA", "COMPRESS_THRESHOLD", "CHUNK_SIZE", "CHUNK_THRESHOLD"):
            self.assertEqual(getattr(hw, name), getattr(reference, name), name)

    def test_op_tables(self):
        self.assertEqual(hw.OP_CODES, reference.OP_CODES)
        self.assertEqual(hw.CODE_OPS, reference.CODE_OPS)

    def test_header_formats(self):
        # The reference keeps its layouts private; they are what the binding exports.
        self.assertEqual(hw.BASE_HEADER.format, reference._HEADER.format)
        self.assertEqual(hw.CHUNK_HEADER.format, reference._CHUNK_HEADER.format)
        self.assertEqual(hw.BASE_HEADER.size, 4)

    def test_compression_parameters(self):
        payload = b'{"rows":[' + b'{"v":1},' * 400 + b"]}"
        self.assertEqual(zlib.compress(payload, hw.ZLIB_LEVEL), reference.compress_payload(payload, hw.COMP_ZLIB)[0])

    def test_websocket_subprotocol(self):
        from hs_py import ws

        self.assertEqual(hw.SUBPROTOCOL, ws.HAYSTACK_SUBPROTOCOL)

    def test_everything_exported_exists(self):
        for name in hw.__all__:
            self.assertTrue(hasattr(hw, name), name)


class HeadersPackedWithTheFormatsDecodeInRust(unittest.TestCase):
    def test_a_plain_response(self):
        payload = b'{"_kind":"grid"}'
        frame = hw.BASE_HEADER.pack(hw.FLAG_RESPONSE, 513, hw.OP_CODES["hisRead"]) + payload
        self.assertEqual(hw.header_size(hw.FLAG_RESPONSE), 4)
        [message] = decode_with_hswire(frame)
        self.assertEqual(message["request_id"], 513)
        self.assertEqual(message["op"], "hisRead")
        self.assertEqual(message["flags"], hw.FLAG_RESPONSE)
        self.assertEqual(bytes.fromhex(message["payload_hex"]), payload)

    def test_compressed_chunks(self):
        payload = b"x" * 3000 + b"y" * 3000
        halves = [payload[:3000], payload[3000:]]
        flags = hw.FLAG_RESPONSE | hw.FLAG_COMPRESSED | hw.FLAG_CHUNKED
        frames = [
            hw.BASE_HEADER.pack(flags, 77, hw.OP_CODES["read"])
            + hw.ALGORITHM_HEADER.pack(hw.COMP_ZLIB)
            + hw.CHUNK_HEADER.pack(index, len(halves))
            + zlib.compress(half, hw.ZLIB_LEVEL)
            for index, half in enumerate(halves)
        ]
        self.assertEqual(hw.header_size(flags), 9)
        [message] = decode_with_hswire(*frames)
        self.assertEqual(message["request_id"], 77)
        self.assertEqual(message["op"], "read")
        self.assertEqual(bytes.fromhex(message["payload_hex"]), payload)

    def test_the_same_bytes_as_the_reference(self):
        payload = b"x" * 3000 + b"y" * 3000
        flags = hw.FLAG_RESPONSE | hw.FLAG_COMPRESSED | hw.FLAG_CHUNKED
        ours = [
            hw.BASE_HEADER.pack(flags, 77, hw.OP_CODES["read"])
            + hw.ALGORITHM_HEADER.pack(hw.COMP_ZLIB)
            + hw.CHUNK_HEADER.pack(index, 2)
            + zlib.compress(payload[index * 3000 : (index + 1) * 3000], hw.ZLIB_LEVEL)
            for index in range(2)
        ]
        theirs = reference.encode_chunked_frames(
            hw.FLAG_RESPONSE, 77, "read", payload, compression=reference.COMP_ZLIB, chunk_size=3000
        )
        self.assertEqual(ours, theirs)


def message(name: str, **values) -> dict:
    """The message `name` with the binding's keys, in order: its type, then `values`."""
    built = {}
    for key in hw.MESSAGE_FIELDS[name]:
        if key == hw.MESSAGE_TYPE_FIELD:
            built[key] = hw.MESSAGE_TYPES[name]
        elif key in values:
            built[key] = values[key]
    return built


class ScriptedSocket:
    """Stands in for the reference client's WebSocket: records what it sends, replies from a script."""

    def __init__(self, replies: list[dict]):
        self.sent: list[dict] = []
        self.replies = list(replies)

    async def send_text(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def recv(self) -> str:
        return json.dumps(self.replies.pop(0))


class TextMessagesMatchTheReference(unittest.TestCase):
    def test_the_batch_cap(self):
        from hs_py import ws_server

        self.assertEqual(hw.MAX_BATCH_SIZE, ws_server._MAX_BATCH_SIZE)

    def test_the_reference_server_writes_response_envelopes_with_the_binding_keys(self):
        from hs_py import ws_server

        grid = b'{"_kind":"grid","meta":{"ver":"3.0"},"cols":[{"name":"empty"}],"rows":[]}'
        full = json.loads(ws_server._ws_envelope(grid, "7", "ch-1"))
        self.assertEqual(tuple(full), hw.MESSAGE_RESPONSE_FIELDS)
        bare = json.loads(ws_server._ws_envelope(grid))
        self.assertEqual(tuple(bare), hw.MESSAGE_REQUIRED_FIELDS["response"])

    def test_the_reference_client_logs_in_with_the_binding_messages_and_stops_at_the_refusal(self):
        from hs_py.errors import AuthError
        from hs_py.ws_client import WebSocketClient

        self.assertEqual(hw.LOGIN_STEPS[:2], ("hello", "hello_answer"))
        client = WebSocketClient("ws://127.0.0.1:9/api/ws", username="ann=1,x", password="secret")
        socket = ScriptedSocket(
            [
                message("hello_answer", handshakeToken="t-1", hash=hw.LOGIN_HASH),
                message(hw.LOGIN_REFUSAL),
            ]
        )
        client._ws = socket
        # The refusal ends the login; any other message would be "expected ..., got ...".
        with self.assertRaisesRegex(AuthError, "failed"):
            asyncio.run(client._scram_authenticate())

        hello, client_first = socket.sent
        self.assertEqual(tuple(hello), hw.MESSAGE_HELLO_FIELDS)
        self.assertEqual(hello[hw.MESSAGE_TYPE_FIELD], hw.MESSAGE_TYPES["hello"])
        self.assertNotIn("=", hello["username"], "base64url without padding")
        self.assertEqual(base64.urlsafe_b64decode(hello["username"] + "=="), b"ann=1,x")

        self.assertEqual(tuple(client_first), hw.MESSAGE_CLIENT_FIRST_FIELDS)
        self.assertEqual(client_first[hw.MESSAGE_TYPE_FIELD], hw.MESSAGE_TYPES["client_first"])
        self.assertEqual(client_first["handshakeToken"], "t-1")
        data = base64.urlsafe_b64decode(client_first["data"] + "=" * (-len(client_first["data"]) % 4))
        self.assertTrue(data.startswith(b"n,,n=ann=3D1=2Cx,r="), data)


if __name__ == "__main__":
    unittest.main()
