"""Checks the generated Python binding against the reference and our decoder.

Run with a Python that has haystack-py installed, and HSWIRE set to the path
of the `hswire` binary (`cargo build --features cli`):

    HSWIRE=target/debug/hswire python -m unittest discover -s bindings/python -v
"""

import json
import os
import subprocess
import unittest
import zlib

import haystack_wire as hw
from hs_py import ws_codec as reference


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


if __name__ == "__main__":
    unittest.main()
