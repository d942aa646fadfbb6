import { createParser, type EventSourceMessage } from 'eventsource-parser';

/**
 * Server-sent events of a response body, in order, as they complete. Parsing follows the WHATWG rules
 * (eventsource-parser): CR, LF or CRLF line ends, multi-line `data:` joined with "\n", `:` comments
 * skipped, and events split anywhere across network chunks or inside a UTF-8 character. `read` is the
 * caller's reader step, so it can bound each wait (stall timeout) and stop when aborted. `trailing` is
 * set to true when the body ended with an unfinished event (bytes after the last blank line).
 */
export async function* sseEvents(read: () => Promise<ReadableStreamReadResult<Uint8Array>>, state: { trailing: boolean } = { trailing: false }): AsyncGenerator<EventSourceMessage> {
  const ready: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (e) => ready.push(e) });
  const decoder = new TextDecoder();
  let pending = '';
  for (;;) {
    const { done, value } = await read();
    const text = done ? decoder.decode() : decoder.decode(value, { stream: true });
    if (text) {
      parser.feed(text);
      pending = afterLastEvent(pending + text);
    }
    while (ready.length) yield ready.shift()!;
    if (done) {
      state.trailing = pending.trim().length > 0;
      return;
    }
  }
}

/** The text after the last blank line (an event boundary): what the parser still holds. */
function afterLastEvent(text: string): string {
  const boundary = /(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r(?!\n)|\n)/g;
  let end = -1;
  for (let m = boundary.exec(text); m; m = boundary.exec(text)) end = m.index + m[0].length;
  return end < 0 ? text : text.slice(end);
}
