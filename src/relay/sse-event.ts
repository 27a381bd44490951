// Reading one SSE event of a relayed stream for what billing needs — usage, and the generated text with a cheap
// upper bound of its tokens — in one pass over its bytes, without decoding or JSON-parsing the whole event.
import type { Usage as NormalisedUsage } from './seams.js';

/** The normalised usage (cached and reasoning parts included when non-zero), with OpenAI's `total_tokens`. */
export interface Usage extends NormalisedUsage {
  total_tokens?: number;
}

export interface ChunkInfo {
  /** The event is the `data: [DONE]` sentinel. */
  done: boolean;
  /** The event's JSON carries a non-null `usage` object. */
  usage: Usage | null;
  /** The chunk OpenAI sends for `stream_options.include_usage`: usage with an empty `choices` array. */
  usageOnly: boolean;
  /** Generated text in this chunk, for counting tokens when the stream ends without usage. */
  text: string;
}

/**
 * Reads the events of one stream, one at a time, into its own fields (so a stream allocates no result per event).
 * The JSON is not parsed: a scanner walks the event's bytes once, decodes only the string values that hold
 * generated text, and hands JSON.parse only a `usage` object, in the rare event that has one. Never throws;
 * linear in the event's size.
 *
 * Every chunk of an OpenAI stream begins with the same bytes up to its `choices` (`{"id":…,"object":…,
 * "created":…,"model":…,"system_fingerprint":…,"choices":`), more than half of a typical chunk. The reader keeps a
 * copy of them from the last chunk it scanned whole and, when the next event begins with the same bytes, starts
 * scanning after them: the scanner's state there is the same, since it depends only on the bytes before.
 */
export class SseEventReader implements ChunkInfo {
  done = false;
  usage: Usage | null = null;
  usageOnly = false;
  text = '';
  /**
   * At least the tokens of `text`, known without tokenizing: the bytes of the JSON string literals it was decoded
   * from. A byte-level tokenizer makes no more tokens than the text has UTF-8 bytes, and an escape (`\n`,
   * `\uXXXX`) is never shorter than the UTF-8 of what it stands for. (Invalid UTF-8 from the upstream is the
   * exception: one stray byte decodes to U+FFFD, three bytes.)
   */
  textBound = 0;
  /** The bytes that began the last chunk scanned whole, up to and including its `"choices"` key. */
  private envelope: Buffer | null = null;

  /** Reads one SSE event (as returned by SseEventSplitter) into this reader's fields, and returns the reader. */
  read(event: Buffer): this {
    this.done = false;
    this.usage = null;
    this.usageOnly = false;
    this.text = '';
    this.textBound = 0;
    // The `data:` lines, joined by LF as the SSE spec assembles them; nearly always there is exactly one.
    let first = -1;
    let firstEnd = 0;
    let joined: Buffer[] | null = null;
    const n = event.length;
    for (let pos = 0; pos < n; ) {
      let lf = event.indexOf(LF, pos);
      if (lf < 0) lf = n;
      const end = lf > pos && event[lf - 1] === CR ? lf - 1 : lf;
      if (startsWith(event, pos, end, DATA_FIELD)) {
        let start = pos + DATA_FIELD.length;
        if (start < end && event[start] === SPACE) start += 1;
        if (first < 0) {
          first = start;
          firstEnd = end;
        } else {
          (joined ??= [event.subarray(first, firstEnd)]).push(NEWLINE, event.subarray(start, end));
        }
      }
      pos = lf + 1;
    }
    if (first < 0) return this;
    if (joined === null) this.readData(event, first, firstEnd);
    else {
      const data = Buffer.concat(joined);
      this.readData(data, 0, data.length);
    }
    return this;
  }

  private readData(buf: Buffer, start: number, end: number): void {
    let s = start;
    let e = end;
    while (s < e && isSpace(buf[s])) s += 1;
    while (e > s && isSpace(buf[e - 1])) e -= 1;
    if (e - s === DONE.length && startsWith(buf, s, e, DONE)) {
      this.done = true;
      return;
    }
    const envelope = this.envelope;
    const known = envelope !== null && e - s > envelope.length && buf.compare(envelope, 0, envelope.length, s, s + envelope.length) === 0;
    if (!scan.run(buf, s, e, known ? envelope.length : 0)) return;
    // Copied, not a view: a view would keep the whole upstream chunk it lies in alive.
    if (!known && scan.envelopeEnd > 0) this.envelope = Buffer.from(buf.subarray(s, scan.envelopeEnd));
    const type = scan.typeStart < 0 ? null : stringAt(buf, scan.typeStart, scan.typeEnd, scan.typeEscaped);
    if (type !== null && type.startsWith('response.')) {
      // A Responses API event: text arrives in `response.*.delta` events; usage, as input/output tokens, inside
      // `response.completed` (and the other events that end a response).
      if (type !== 'response.completed') {
        this.text = scan.responseText;
        this.textBound = scan.responseBound;
      }
      const usage = scan.responseUsageEnd > 0 ? parseObject(buf, scan.responseUsageStart, scan.responseUsageEnd) : null;
      if (usage) {
        this.usage = readDetails(
          { prompt_tokens: tokenCount(usage.input_tokens), completion_tokens: tokenCount(usage.output_tokens) },
          usage.input_tokens_details,
          usage.output_tokens_details,
        );
      }
      return;
    }
    this.text = scan.chatText;
    this.textBound = scan.chatBound;
    if (scan.usageEnd > 0) this.usage = readUsage(parseObject(buf, scan.usageStart, scan.usageEnd));
    this.usageOnly = this.usage !== null && scan.choices === Choices.Empty;
  }
}

/** Reads one SSE event (as returned by SseEventSplitter) without throwing on anything it does not understand. */
export function inspectChunk(event: Buffer): ChunkInfo {
  const { done, usage, usageOnly, text } = new SseEventReader().read(event);
  return { done, usage, usageOnly, text };
}

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const DATA_FIELD = Buffer.from('data:');
const DONE = Buffer.from('[DONE]');
const NEWLINE = Buffer.from('\n');

/** Where a JSON container sits in an OpenAI stream event; only these places hold something the relay reads. */
const Place = {
  Other: 0,
  Root: 1,
  /** `choices` */
  Choices: 2,
  /** `choices[i]`: `text` is completions output */
  Choice: 3,
  /** `choices[i].delta`: `content` and `reasoning_content` */
  Delta: 4,
  /** `choices[i].delta.tool_calls` */
  ToolCalls: 5,
  ToolCall: 6,
  /** `…tool_calls[j].function`: `arguments` */
  Function: 7,
  /** `usage` of a chat or completions chunk */
  Usage: 8,
  /** `response` of a Responses API event */
  Response: 9,
  /** `response.usage` */
  ResponseUsage: 10,
} as const;
type Place = (typeof Place)[keyof typeof Place];

/** What the key just read means for the value that follows it. */
const Key = {
  None: 0,
  /** A string of generated chat or completions text. */
  Text: 1,
  /** The top-level `delta` of a Responses API event. */
  ResponseDelta: 2,
  Type: 3,
  Choices: 4,
  Usage: 5,
  Response: 6,
  Delta: 7,
  ToolCalls: 8,
  Function: 9,
  ResponseUsage: 10,
} as const;
type Key = (typeof Key)[keyof typeof Key];

const Choices = { NotAnArray: 0, Empty: 1, NotEmpty: 2 } as const;
type Choices = (typeof Choices)[keyof typeof Choices];

/** The keys the scanner looks for, by the place of the object they are in. */
const KEYS: Record<Place, [Buffer, Key][]> = {
  [Place.Other]: [],
  [Place.Root]: [
    [Buffer.from('choices'), Key.Choices],
    [Buffer.from('usage'), Key.Usage],
    [Buffer.from('type'), Key.Type],
    [Buffer.from('delta'), Key.ResponseDelta],
    [Buffer.from('response'), Key.Response],
  ],
  [Place.Choices]: [],
  [Place.Choice]: [
    [Buffer.from('text'), Key.Text],
    [Buffer.from('delta'), Key.Delta],
  ],
  [Place.Delta]: [
    [Buffer.from('content'), Key.Text],
    [Buffer.from('reasoning_content'), Key.Text],
    [Buffer.from('tool_calls'), Key.ToolCalls],
  ],
  [Place.ToolCalls]: [],
  [Place.ToolCall]: [[Buffer.from('function'), Key.Function]],
  [Place.Function]: [[Buffer.from('arguments'), Key.Text]],
  [Place.Usage]: [],
  [Place.Response]: [[Buffer.from('usage'), Key.ResponseUsage]],
  [Place.ResponseUsage]: [],
};

/** Containers nested deeper than this are all `Other` (nothing the relay reads is deeper than 6). */
const MAX_DEPTH = 32;

/**
 * A single pass over one JSON text that tracks only where it is (a stack of places) and remembers what the relay
 * reads: generated text (decoded), the top-level `type`, and where the `usage` objects start and end. Strings are
 * skipped byte by byte, never decoded unless they are text; numbers and literals are not looked at. It checks
 * enough to refuse what JSON.parse would (an unterminated string, unbalanced or mismatched brackets, anything
 * but whitespace after the root object), but it is not a validator: on malformed input it may read text where
 * JSON.parse would have failed, and it never throws.
 */
class EventScan {
  chatText = '';
  chatBound = 0;
  responseText = '';
  responseBound = 0;
  typeStart = -1;
  typeEnd = -1;
  typeEscaped = false;
  usageStart = -1;
  usageEnd = -1;
  responseUsageStart = -1;
  responseUsageEnd = -1;
  choices: Choices = Choices.NotAnArray;
  /**
   * Where the top-level `"choices"` key ends, when nothing the scanner looks for came before it (the envelope
   * every chunk of an OpenAI stream repeats); else -1.
   */
  envelopeEnd = -1;
  private readonly places = new Uint8Array(MAX_DEPTH);
  private readonly arrays = new Uint8Array(MAX_DEPTH);

  /**
   * Scans `buf[start, end)`, which should hold one JSON object; false when it is not one. With `skip` > 0 the
   * first `skip` bytes are a known envelope (see `envelopeEnd`) and the scan starts after them.
   */
  run(buf: Buffer, start: number, end: number, skip: number): boolean {
    this.chatText = '';
    this.chatBound = 0;
    this.responseText = '';
    this.responseBound = 0;
    this.typeStart = -1;
    this.usageEnd = -1;
    this.responseUsageEnd = -1;
    this.choices = Choices.NotAnArray;
    this.envelopeEnd = -1;
    if (start >= end || buf[start] !== OPEN_OBJECT) return false;
    let depth = 0;
    let place: Place = Place.Other;
    let inArray = false;
    let key: Key = Key.None;
    let expectKey = false;
    let i = start;
    if (skip > 0) {
      // The state right after the envelope's `"choices"` key.
      depth = 1;
      this.places[1] = Place.Root;
      this.arrays[1] = 0;
      place = Place.Root;
      key = Key.Choices;
      i = start + skip;
    }
    while (i < end) {
      const byte = buf[i];
      if (byte === QUOTE) {
        const from = i + 1;
        let to = from;
        let escaped = false;
        for (;;) {
          if (to >= end) return false;
          const c = buf[to];
          if (c === QUOTE) break;
          if (c === BACKSLASH) {
            escaped = true;
            to += 2;
          } else to += 1;
        }
        if (expectKey) {
          key = escaped ? Key.None : keyAt(place, buf, from, to);
          expectKey = false;
          if (key === Key.Choices && this.nothingFound()) this.envelopeEnd = to + 1;
        } else if (key !== Key.None) {
          if (!this.stringValue(key, buf, from, to, escaped)) return false;
          key = Key.None;
        }
        i = to + 1;
        continue;
      }
      if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
        const isArray = byte === OPEN_ARRAY;
        let child: Place = Place.Root;
        if (depth > 0) {
          child = depth + 1 >= MAX_DEPTH ? Place.Other : inArray ? elementPlace(place, isArray) : this.valuePlace(key, isArray, buf, i, end);
        }
        depth += 1;
        if (depth < MAX_DEPTH) {
          this.places[depth] = child;
          this.arrays[depth] = isArray ? 1 : 0;
        }
        place = child;
        inArray = isArray;
        expectKey = !isArray;
        key = Key.None;
        if (child === Place.Usage) this.usageStart = i;
        else if (child === Place.ResponseUsage) this.responseUsageStart = i;
      } else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
        if (depth < MAX_DEPTH && this.arrays[depth] !== (byte === CLOSE_ARRAY ? 1 : 0)) return false;
        if (place === Place.Usage) this.usageEnd = i + 1;
        else if (place === Place.ResponseUsage) this.responseUsageEnd = i + 1;
        depth -= 1;
        if (depth === 0) return onlySpace(buf, i + 1, end);
        place = depth < MAX_DEPTH ? (this.places[depth] as Place) : Place.Other;
        inArray = depth < MAX_DEPTH && this.arrays[depth] === 1;
        key = Key.None;
      } else if (byte === COMMA) {
        expectKey = !inArray;
        key = Key.None;
      } else if (key !== Key.None && !isSpace(byte) && byte !== 0x3a /* : */) {
        // A number, true, false or null where a key the scanner reads expected something else.
        this.forget(key);
        key = Key.None;
      }
      i += 1;
    }
    return false;
  }

  private nothingFound(): boolean {
    return this.chatBound === 0 && this.responseBound === 0 && this.typeStart < 0 && this.usageEnd < 0 && this.responseUsageEnd < 0 && this.choices === Choices.NotAnArray;
  }

  /** A string value after `key`; false when it cannot be decoded (JSON.parse would refuse the event). */
  private stringValue(key: Key, buf: Buffer, from: number, to: number, escaped: boolean): boolean {
    if (key === Key.Text || key === Key.ResponseDelta) {
      const text = from === to ? '' : stringAt(buf, from, to, escaped);
      if (text === null) return false;
      if (key === Key.Text) {
        this.chatText += text;
        this.chatBound += to - from;
      } else {
        this.responseText = text;
        this.responseBound = to - from;
      }
    } else if (key === Key.Type) {
      this.typeStart = from;
      this.typeEnd = to;
      this.typeEscaped = escaped;
    } else this.forget(key);
    return true;
  }

  /** The place of an object or array that is the value of `key`. */
  private valuePlace(key: Key, isArray: boolean, buf: Buffer, at: number, end: number): Place {
    if (key === Key.None) return Place.Other;
    this.forget(key);
    if (isArray) {
      if (key === Key.Choices) {
        this.choices = nextIs(buf, at + 1, end, CLOSE_ARRAY) ? Choices.Empty : Choices.NotEmpty;
        return Place.Choices;
      }
      return key === Key.ToolCalls ? Place.ToolCalls : Place.Other;
    }
    switch (key) {
      case Key.Usage:
        return Place.Usage;
      case Key.Response:
        return Place.Response;
      case Key.Delta:
        return Place.Delta;
      case Key.Function:
        return Place.Function;
      case Key.ResponseUsage:
        return Place.ResponseUsage;
      default:
        return Place.Other;
    }
  }

  /** A key met again: as with JSON.parse, its last value is the one that counts. */
  private forget(key: Key): void {
    if (key === Key.Usage) this.usageEnd = -1;
    else if (key === Key.ResponseUsage) this.responseUsageEnd = -1;
    else if (key === Key.Choices) this.choices = Choices.NotAnArray;
    else if (key === Key.Type) this.typeStart = -1;
    else if (key === Key.ResponseDelta) {
      this.responseText = '';
      this.responseBound = 0;
    }
  }
}

/** The scanner's state lives here between calls; a scan runs to its end synchronously, so one is enough. */
const scan = new EventScan();

/** The decoded string `buf[from, to)`; null when an escape in it is invalid. */
function stringAt(buf: Buffer, from: number, to: number, escaped: boolean): string | null {
  if (!escaped) return buf.toString('utf8', from, to);
  try {
    return JSON.parse(buf.toString('utf8', from - 1, to + 1)) as string;
  } catch {
    return null;
  }
}

function elementPlace(array: Place, isArray: boolean): Place {
  if (isArray) return Place.Other;
  if (array === Place.Choices) return Place.Choice;
  return array === Place.ToolCalls ? Place.ToolCall : Place.Other;
}

function keyAt(place: Place, buf: Buffer, from: number, to: number): Key {
  const keys = KEYS[place];
  for (let k = 0; k < keys.length; k++) {
    const [name, key] = keys[k] as [Buffer, Key];
    if (to - from === name.length && startsWith(buf, from, to, name)) return key;
  }
  return Key.None;
}

/** `buf[from, to)` begins with `prefix`. */
function startsWith(buf: Buffer, from: number, to: number, prefix: Buffer): boolean {
  if (to - from < prefix.length) return false;
  for (let k = 0; k < prefix.length; k++) {
    if (buf[from + k] !== prefix[k]) return false;
  }
  return true;
}

function isSpace(byte: number | undefined): boolean {
  return byte === SPACE || byte === LF || byte === CR || byte === TAB;
}

function onlySpace(buf: Buffer, from: number, to: number): boolean {
  for (let k = from; k < to; k++) if (!isSpace(buf[k])) return false;
  return true;
}

/** The first non-space byte from `from` is `byte`. */
function nextIs(buf: Buffer, from: number, to: number, byte: number): boolean {
  let k = from;
  while (k < to && isSpace(buf[k])) k += 1;
  return buf[k] === byte;
}

function parseObject(buf: Buffer, start: number, end: number): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(buf.toString('utf8', start, end));
    return isRecord(value) ? value : null;
  } catch {
    return null;
  }
}

function readUsage(value: Record<string, unknown> | null): Usage | null {
  if (value === null) return null;
  const usage: Usage = {
    prompt_tokens: tokenCount(value.prompt_tokens),
    completion_tokens: tokenCount(value.completion_tokens),
  };
  if (typeof value.total_tokens === 'number') usage.total_tokens = value.total_tokens;
  return readDetails(usage, value.prompt_tokens_details, value.completion_tokens_details);
}

/**
 * The parts of the totals OpenAI details (CONTRACT §4): `cached_tokens` of the input (already inside
 * prompt/input_tokens) and `reasoning_tokens` of the output (already inside completion/output_tokens). Read from
 * the usage object that was parsed anyway, and set only when non-zero, so a plain usage stays as it was.
 */
function readDetails(usage: Usage, input: unknown, output: unknown): Usage {
  const cached = isRecord(input) ? tokenCount(input.cached_tokens) : 0;
  const reasoning = isRecord(output) ? tokenCount(output.reasoning_tokens) : 0;
  if (cached > 0) usage.cached_tokens = cached;
  if (reasoning > 0) usage.reasoning_tokens = reasoning;
  return usage;
}

function tokenCount(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
