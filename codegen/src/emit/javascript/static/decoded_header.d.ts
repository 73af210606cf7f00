/**
 * A decoded header and where the payload starts.
 */
export interface DecodedHeader {
  header: FrameHeader;
  payloadOffset: number;
}
