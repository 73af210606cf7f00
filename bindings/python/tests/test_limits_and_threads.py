"""The reassembly limits, each refusal naming its limit and values, and the
codec objects used from several threads at once."""

import threading
import time

import pytest

import haystack_wire
from haystack_wire import ws_codec as ours
from haystack_wire.protocol import BASE_HEADER, CHUNK_HEADER, OP_CODES

READ = OP_CODES["read"]


def chunk(index: int, total: int, data: bytes = b"abc", req_id: int = 5) -> bytes:
    return BASE_HEADER.pack(ours.FLAG_CHUNKED, req_id, READ) + CHUNK_HEADER.pack(index, total) + data


def feed(assembler, frame: bytes):
    return assembler.feed(*ours.decode_binary_frame(frame))


def test_the_pending_sequences_limit_refuses_one_more_sequence_naming_the_request_and_the_limit():
    assembler = ours.ChunkAssembler(max_pending=3)
    for req_id in (1, 2, 3):
        feed(assembler, chunk(0, 2, req_id=req_id))
    with pytest.raises(haystack_wire.LimitExceeded, match="request 4 .*limit of 3 pending") as refused:
        feed(assembler, chunk(0, 2, req_id=4))
    assert isinstance(refused.value, ValueError)
    assert assembler.pending_count == 3


def test_the_pending_bytes_limit_refuses_the_chunk_that_would_pass_it_naming_the_request_and_the_limit():
    assembler = ours.ChunkAssembler(max_pending_bytes=10)
    feed(assembler, chunk(0, 3, b"x" * 6, req_id=1))
    with pytest.raises(haystack_wire.LimitExceeded, match=r"request 2 \(read\) .*past 10 bytes") as refused:
        feed(assembler, chunk(0, 3, b"y" * 6, req_id=2))
    assert isinstance(refused.value, ValueError)
    assert assembler.pending_bytes == 6


def test_the_chunks_per_sequence_limit_refuses_a_larger_total_on_its_first_chunk():
    assembler = ours.ChunkAssembler(max_chunks=4)
    with pytest.raises(haystack_wire.LimitExceeded, match="announces 5 chunks, more than the limit of 4") as refused:
        feed(assembler, chunk(0, 5))
    assert isinstance(refused.value, ValueError)
    assert assembler.pending_count == 0


def test_the_ttl_counts_from_the_first_chunk_on_the_monotonic_clock():
    assembler = ours.ChunkAssembler(ttl_seconds=10.0)
    first = time.monotonic()
    feed(assembler, chunk(0, 4, req_id=1))
    # A later chunk does not restart the clock.
    feed(assembler, chunk(1, 4, req_id=1))
    assembler.cleanup(first + 9.0)
    assert assembler.pending_count == 1
    assembler.cleanup(time.monotonic() + 10.5)
    assert assembler.pending_count == 0


def test_limits_set_on_the_decoder_are_enforced_with_the_same_errors():
    decoder = haystack_wire.Decoder(haystack_wire.Limits(max_pending=1, max_chunks=8))
    assert decoder.decode(chunk(0, 2, req_id=1)) is None
    with pytest.raises(haystack_wire.LimitExceeded, match="limit of 1 pending"):
        decoder.decode(chunk(0, 2, req_id=2))
    with pytest.raises(haystack_wire.LimitExceeded, match="announces 9 chunks, more than the limit of 8"):
        decoder.decode(chunk(0, 9, req_id=3))
    assert decoder.pending_count == 1


def test_the_decoder_drops_sequences_past_its_ttl_when_swept():
    decoder = haystack_wire.Decoder(ttl_seconds=0.05)
    decoder.decode(chunk(0, 2))
    time.sleep(0.1)
    assert decoder.sweep_expired() == 1
    assert decoder.pending_count == 0


# A payload per message, of some structure, large enough that compressing
# and decompressing it takes long enough for threads to overlap.
def message_payload(thread: int, message: int) -> bytes:
    return b"".join(b'{"t":%d,"m":%d,"row":%d},' % (thread, message, row) for row in range(4000))


def interleaved_stream(encoder, thread: int, messages: int) -> list[bytes]:
    """The chunked frames of `messages` messages, their chunks interleaved round robin."""
    sequences = [
        encoder.chunked(ours.FLAG_RESPONSE, message + 1, "read", message_payload(thread, message), parallel=False)
        for message in range(messages)
    ]
    frames = []
    for position in range(max(len(s) for s in sequences)):
        frames.extend(s[position] for s in sequences if position < len(s))
    return frames


def run_threads(count: int, work) -> list:
    """Runs `work(i)` on `count` threads started together; returns results, re-raising any error."""
    results: list = [None] * count
    errors: list = []
    start = threading.Barrier(count)

    def body(i: int) -> None:
        try:
            start.wait(timeout=30)
            results[i] = work(i)
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            errors.append(error)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    if errors:
        raise errors[0]
    return results


@pytest.mark.parametrize("compression", [None, ours.COMP_ZLIB, ours.COMP_LZMA])
def test_eight_threads_with_a_decoder_each_get_their_own_messages_from_interleaved_streams(compression):
    messages = 3
    encoder = haystack_wire.Encoder(compression, chunk_size=16 * 1024)
    streams = [interleaved_stream(encoder, thread, messages) for thread in range(8)]

    def decode(thread: int):
        decoder = haystack_wire.Decoder()
        got = {}
        for frame in streams[thread]:
            message = decoder.decode(frame)
            if message is not None:
                flags, request_id, op, payload = message
                got[request_id] = (flags, op, payload)
        return got, decoder.pending_count

    for thread, (got, pending) in enumerate(run_threads(8, decode)):
        assert pending == 0
        assert got == {
            m + 1: (ours.FLAG_RESPONSE, "read", message_payload(thread, m)) for m in range(messages)
        }


def test_one_decoder_shared_by_two_threads_decodes_every_message_of_both():
    encoder = haystack_wire.Encoder(ours.COMP_ZLIB, chunk_size=16 * 1024)
    # Request ids apart, so that the two streams' sequences stay apart in the one decoder.
    streams = [
        [f for m in range(3) for f in encoder.chunked(ours.FLAG_RESPONSE, 100 * t + m, "read", message_payload(t, m))]
        for t in range(2)
    ]
    decoder = haystack_wire.Decoder()

    def decode(thread: int):
        got = {}
        for frame in streams[thread]:
            message = decoder.decode(frame)
            if message is not None:
                got[message[1]] = message[3]
        return got

    first, second = run_threads(2, decode)
    assert first == {m: message_payload(0, m) for m in range(3)}
    assert second == {100 + m: message_payload(1, m) for m in range(3)}
    assert decoder.pending_count == 0


def test_one_encoder_shared_by_two_threads_makes_the_same_frames_as_one_thread_alone():
    encoder = haystack_wire.Encoder(ours.COMP_ZLIB)
    payload = message_payload(0, 0) * 4
    alone = encoder.chunked(ours.FLAG_RESPONSE, 1, "read", payload, parallel=False)

    def encode(thread: int):
        return [encoder.response(7, "read", payload) for _ in range(5)] + [
            encoder.chunked(ours.FLAG_RESPONSE, 1, "read", payload, parallel=thread == 0)
        ]

    for frames in run_threads(2, encode):
        assert frames[-1] == alone
        assert all(frame == frames[0] for frame in frames[:-1])


def test_one_chunk_assembler_shared_by_two_threads_is_correct_or_refuses_clearly():
    encoder = haystack_wire.Encoder(ours.COMP_ZLIB, chunk_size=16 * 1024)
    streams = [
        [f for m in range(3) for f in encoder.chunked(ours.FLAG_RESPONSE, 100 * t + m, "read", message_payload(t, m))]
        for t in range(2)
    ]
    assembler = ours.ChunkAssembler()

    def feed_all(thread: int):
        got, refused = {}, []
        for frame in streams[thread]:
            flags, request_id, op, data = ours.decode_binary_frame(frame)
            try:
                whole = assembler.feed(flags, request_id, op, data)
            except RuntimeError as error:  # the object is in use by the other thread
                refused.append(str(error))
                continue
            if whole is not None:
                got[request_id] = whole
        return got, refused

    for thread, (got, refused) in enumerate(run_threads(2, feed_all)):
        assert all("borrow" in message for message in refused), refused
        for request_id, whole in got.items():
            assert whole == message_payload(thread, request_id - 100 * thread)
        if not refused:
            assert len(got) == 3
