/**
 * Why a header could not be read or written.
 */
export declare class HeaderError extends Error {
  readonly reason:
    | "truncated"
    | "unused_bits"
    | "unknown_op"
    | "unknown_algorithm"
    | "missing_field"
    | "out_of_range";
  /**
   * For `unknown_op`: the base header as read, to answer the frame with.
   */
  readonly header?: BaseHeaderFields;
  /**
   * Whether the receiver answers the frame with an error response: an unknown op in a
   * request, under the `answer` policy.
   */
  readonly answerable: boolean;
}

/**
 * The number of header bytes before the payload of a frame with these flags.
 */
export declare function headerSize(flags: number): number;

/**
 * Writes a header at `offset` of `view`; returns the bytes written.
 */
export declare function encodeHeader(view: DataView, header: FrameHeader, offset?: number): number;

/**
 * Reads the header at `offset` of `view`.
 */
export declare function decodeHeader(view: DataView, offset?: number): DecodedHeader;
