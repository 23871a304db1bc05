/**
 * Aedes has no limit on packet size: a client may announce a 256 MB packet and the parser buffers
 * it. This wraps the parser's length step (an internal of mqtt-packet's Parser, checked at start)
 * so an oversized packet closes the connection before its body is buffered.
 */
interface ParserInternals {
  packet: { length: number };
  _parseLength: () => boolean;
  _emitError: (err: Error) => void;
}

/** True when this Aedes/mqtt-packet version exposes what the guard needs. */
export function canGuardPacketSize(client: unknown): boolean {
  const parser = (client as { _parser?: Partial<ParserInternals> })._parser;
  return typeof parser?._parseLength === 'function' && typeof parser._emitError === 'function';
}

export function guardPacketSize(
  client: unknown,
  maxBytes: number,
  onTooLarge: (length: number) => void,
): void {
  const parser = (client as { _parser: ParserInternals })._parser;
  const parseLength = parser._parseLength.bind(parser);
  parser._parseLength = () => {
    const done = parseLength();
    if (done && parser.packet.length > maxBytes) {
      onTooLarge(parser.packet.length);
      parser._emitError(
        new Error(`packet of ${parser.packet.length} bytes is over the ${maxBytes}-byte limit`),
      );
      return false;
    }
    return done;
  };
}
