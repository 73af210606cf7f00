/**
 * Why a header could not be read or written: `reason` is one of `truncated`,
 * `unused_bits`, `unknown_op`, `unknown_algorithm`, `missing_field` or `out_of_range`.
 * For `unknown_op`, `header` holds the base header as read, the op byte as received,
 * and `answerable` says whether the receiver answers the frame with an error response
 * (see `UNKNOWN_OP_POLICY`).
 */
export class HeaderError extends Error {
  constructor(reason, message, header = undefined, answerable = false) {
    super(message);
    this.name = "HeaderError";
    this.reason = reason;
    this.header = header;
    this.answerable = answerable;
  }
}
