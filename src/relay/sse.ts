// Incremental SSE handling for relayed OpenAI streams. The relay forwards the upstream's own bytes; this module
// only finds where each event ends (SseEventSplitter); sse-event.ts reads usage and generated text out of an
// event's bytes without parsing its JSON, let alone re-serialising it.

const LF = 0x0a;
const CR = 0x0d;

/** Where the scanner stands relative to a blank line (the SSE event terminator). */
const ScanState = {
  InLine: 0,
  /** Just after a line ending: an immediate LF, or CR LF, is the blank line that ends the event. */
  LineStart: 1,
  /** Just after a line ending and a CR: an LF now ends the event. */
  LineStartCr: 2,
} as const;
type ScanState = (typeof ScanState)[keyof typeof ScanState];

export interface SseEventSplitterOptions {
  /** The most bytes an unfinished event may hold before it is emitted as-is. */
  maxEventBytes?: number;
}

export const DEFAULT_MAX_EVENT_BYTES = 1024 * 1024;

/**
 * Held pieces of one event are merged once there are this many, so an upstream that trickles an event out in
 * tiny chunks costs bytes, not one Buffer object per chunk. Normal streams never get near it.
 */
const MAX_HELD_PARTS = 1024;

/**
 * Splits an SSE byte stream into complete events, each returned with its terminator so that writing every returned
 * buffer in order reproduces the stream byte for byte. Line endings may be LF or CRLF (OpenAI-compatible servers
 * use one of those; a lone CR as a line ending is not recognised and stays part of the event).
 *
 * Each byte is scanned once: the scanner's state survives between chunks instead of re-searching the held tail.
 * Events wholly inside one chunk are zero-copy views of that chunk; only an event spread over several chunks is
 * concatenated, once, when it completes.
 */
export class SseEventSplitter {
  readonly maxEventBytes: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private state: ScanState = ScanState.InLine;

  constructor(options: SseEventSplitterOptions = {}) {
    this.maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
  }

  push(chunk: Buffer): Buffer[] {
    const events: Buffer[] = [];
    let eventStart = 0;
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.state === ScanState.InLine) {
        const lf = chunk.indexOf(LF, i);
        if (lf < 0) break;
        i = lf + 1;
        this.state = ScanState.LineStart;
        continue;
      }
      const byte = chunk[i];
      if (byte === LF) {
        i += 1;
        events.push(this.takeEvent(chunk.subarray(eventStart, i)));
        eventStart = i;
        this.state = ScanState.InLine;
      } else if (byte === CR && this.state === ScanState.LineStart) {
        i += 1;
        this.state = ScanState.LineStartCr;
      } else {
        // Content on the new line (or a CR not followed by LF): keep scanning from this byte as ordinary text.
        this.state = ScanState.InLine;
      }
    }
    if (eventStart < n) this.hold(chunk.subarray(eventStart), events);
    return events;
  }

  /** Whatever is left at stream end (an event without its terminator), or null. */
  flush(): Buffer | null {
    if (this.pendingBytes === 0) return null;
    const rest = this.drain(null);
    this.state = ScanState.InLine;
    return rest;
  }

  /** Bytes currently held for an unfinished event. */
  get heldBytes(): number {
    return this.pendingBytes;
  }

  private takeEvent(lastPart: Buffer): Buffer {
    return this.pendingBytes === 0 ? lastPart : this.drain(lastPart);
  }

  private hold(part: Buffer, events: Buffer[]): void {
    this.pending.push(part);
    this.pendingBytes += part.length;
    // Past the bound the event is handed on unfinished, so a stream without blank lines cannot grow memory.
    // The scan state is kept: the rest of that event is emitted as further pieces when it arrives.
    if (this.pendingBytes > this.maxEventBytes) events.push(this.drain(null));
    else if (this.pending.length >= MAX_HELD_PARTS) this.pending = [Buffer.concat(this.pending)];
  }

  private drain(lastPart: Buffer | null): Buffer {
    if (lastPart) this.pending.push(lastPart);
    const out = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    return out;
  }
}
