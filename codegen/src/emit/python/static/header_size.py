def header_size(flags: int) -> int:
    """
    The number of header bytes before the payload of a frame with these
    flags.
    """
    return sum(layout.size for _, flag, layout in HEADER_SECTIONS if not flag or flags & flag)
