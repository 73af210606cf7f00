"""Project Haystack binary WebSocket frames, from the haystack-wire Rust crate."""

from haystack_wire import protocol

__all__ = ["protocol"]
