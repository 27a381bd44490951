// Token counting with OpenAI's o200k tokenizer, for the answers that carry no `usage` (CONTRACT §4): the prompt
// of such a request, and a streamed completion. The upstream's own usage always wins when present, and nothing is
// tokenized before forwarding (the reservation uses a bound from the body's size, src/relay/prompt-bound.ts).

import { createRequire } from 'node:module';

type CountTokens = (text: string, options: { disallowedSpecial: Set<string> }) => number;

// Loaded on first use, not at start: its tables cost ~70 MB of memory, and most gateways never need them
// (upstreams send usage). The CommonJS build loads synchronously, so counting stays a plain function call.
let countTokens: CountTokens | null = null;
function tokenizer(): CountTokens {
  countTokens ??= (createRequire(import.meta.url)('gpt-tokenizer/encoding/o200k_base') as { countTokens: CountTokens }).countTokens;
  return countTokens;
}

/** Whether the tokenizer has been loaded (it is, only once something needed counting). */
export function tokenizerLoaded(): boolean {
  return countTokens !== null;
}

// User text may legitimately contain "<|endoftext|>" and friends; they are counted as plain text
// (the library would otherwise throw on them).
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

export function countTextTokens(text: string): number {
  return text.length === 0 ? 0 : tokenizer()(text, PLAIN_TEXT);
}

// OpenAI's accounting for chat: every message is wrapped in ~3 framing tokens, a `name` costs one
// more, and the reply is primed with another 3.
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_NAME = 1;
const REPLY_PRIMING = 3;

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Text parts of a message's content: a string, or an array of parts of which only text is counted. */
function contentTokens(content: unknown): number {
  if (typeof content === 'string') return countTextTokens(content);
  if (!Array.isArray(content)) return 0;
  let total = 0;
  for (const part of content) {
    if (typeof part === 'string') total += countTextTokens(part);
    else if (isObject(part) && typeof part.text === 'string') total += countTextTokens(part.text);
  }
  return total;
}

function toolCallTokens(toolCalls: unknown): number {
  if (!Array.isArray(toolCalls)) return 0;
  let total = 0;
  for (const call of toolCalls) {
    if (!isObject(call) || !isObject(call.function)) continue;
    const { name, arguments: args } = call.function;
    if (typeof name === 'string') total += countTextTokens(name);
    if (typeof args === 'string') total += countTextTokens(args);
  }
  return total;
}

function chatTokens(body: JsonObject, messages: unknown[]): number {
  let total = REPLY_PRIMING;
  for (const message of messages) {
    if (!isObject(message)) continue;
    total += TOKENS_PER_MESSAGE;
    if (typeof message.role === 'string') total += countTextTokens(message.role);
    total += contentTokens(message.content);
    if (typeof message.name === 'string') total += TOKENS_PER_NAME + countTextTokens(message.name);
    total += toolCallTokens(message.tool_calls);
  }
  // Tool schemas are sent to the model as text too; their JSON is a fair stand-in.
  if (Array.isArray(body.tools) && body.tools.length > 0) total += countTextTokens(JSON.stringify(body.tools));
  return total;
}

/**
 * `prompt` (completions) or `input` (embeddings, moderations): a string, an array of strings, an
 * array of token ids, or an array of token-id arrays. Token ids count one each.
 */
function promptTokens(prompt: unknown): number {
  if (typeof prompt === 'string') return countTextTokens(prompt);
  if (typeof prompt === 'number') return 1;
  if (!Array.isArray(prompt)) return 0;
  let total = 0;
  for (const item of prompt) {
    if (typeof item === 'string') total += countTextTokens(item);
    else if (typeof item === 'number') total += 1;
    else if (Array.isArray(item)) total += item.filter((id) => typeof id === 'number').length;
    else if (isObject(item)) total += contentTokens(item.content);
  }
  return total;
}

/** Estimated prompt tokens of a chat, completions or embeddings request body; 0 for anything else. */
export function estimatePromptTokens(body: unknown): number {
  if (!isObject(body)) return 0;
  if (Array.isArray(body.messages)) return chatTokens(body, body.messages);
  if ('prompt' in body) return promptTokens(body.prompt);
  if ('input' in body) return promptTokens(body.input);
  return 0;
}

// Pending text is tokenized once it passes FLUSH_AT chars, up to its last whitespace, so a word is
// never split across two tokenizer calls. Text with no whitespace at all (CJK, base64) is cut at
// HARD_LIMIT instead: the count may then differ by a token at that seam, the memory stays bounded.
// Why 8 KB: the exact count is needed only when an answer ends without usage or nears its reservation,
// and upstreams asked for usage nearly always send it, so a typical answer (a few KB) is never tokenized
// at all; one flush costs at most ~1 ms of the event loop (8 KB ≈ 2k tokens), and a stream holds ≤ 12 KB.
const FLUSH_AT = 8192;
const HARD_LIMIT = 12288;
/** The most text a stream counter holds untokenized (chars). */
export const STREAM_TEXT_HELD_MAX = HARD_LIMIT;

/**
 * Counts the tokens of a streamed completion as its deltas arrive, holding at most STREAM_TEXT_HELD_MAX chars of text.
 * The total can differ from counting the whole text at once by a token or so per flush, because the
 * tokenizer may merge whitespace runs differently at a seam.
 */
export class StreamTokenCounter {
  #counted = 0;
  #pending = '';
  /** At least the tokens of #pending. */
  #pendingBound = 0;
  /** index in #pending just before its last whitespace char, or -1 */
  #lastBreak = -1;

  /**
   * `bound` is at least the tokens of `text` (its UTF-8 length by default); a caller that has the text's size
   * at hand, such as the byte length of the JSON string it was decoded from, passes it to spare measuring.
   */
  add(text: string, bound?: number): void {
    if (text.length === 0) return;
    if (text.length <= FLUSH_AT) {
      this.#append(text, bound ?? Buffer.byteLength(text));
      return;
    }
    // A huge delta is fed in slices so the pending buffer never holds more than HARD_LIMIT.
    for (let start = 0; start < text.length; start += FLUSH_AT) {
      const slice = text.slice(start, start + FLUSH_AT);
      this.#append(slice, Buffer.byteLength(slice));
    }
  }

  total(): number {
    return this.#counted + countTextTokens(this.#pending);
  }

  /**
   * At least the total, without tokenizing: the held text counts one token per UTF-8 byte, which a byte-level
   * tokenizer cannot exceed (one per UTF-16 unit could: a rare CJK character is one unit and up to three
   * tokens). Cheap enough to ask after every delta.
   */
  upperBound(): number {
    return this.#counted + this.#pendingBound;
  }

  /**
   * Tokenizes the held text now, so `upperBound()` is exact until more text arrives (used near the end of a
   * balance; a word split at this seam may count one token more than it would whole).
   */
  flush(): void {
    if (this.#pending.length > 0) this.#flushTo(this.#pending.length);
  }

  /** Length of the text held but not yet tokenized; exposed so its bound can be checked. */
  get pendingLength(): number {
    return this.#pending.length;
  }

  #append(text: string, bound: number): void {
    const offset = this.#pending.length;
    this.#pending += text;
    this.#pendingBound += bound;
    for (let i = text.length - 1; i >= 0; i--) {
      if (isWhitespace(text.charCodeAt(i))) {
        this.#lastBreak = offset + i;
        break;
      }
    }
    while (this.#pending.length > FLUSH_AT) {
      if (this.#lastBreak > 0) this.#flushTo(this.#lastBreak);
      else if (this.#pending.length >= HARD_LIMIT) {
        this.#flushTo(safeCut(this.#pending, this.#pending.length - FLUSH_AT));
      } else break;
    }
  }

  #flushTo(end: number): void {
    this.#counted += countTextTokens(this.#pending.slice(0, end));
    this.#pending = this.#pending.slice(end);
    this.#pendingBound = this.#pending.length === 0 ? 0 : Buffer.byteLength(this.#pending);
    // #lastBreak was the last whitespace, so the remainder holds none worth cutting at
    this.#lastBreak = -1;
  }
}

/** `at`, moved back by one if it would split a UTF-16 surrogate pair. */
function safeCut(text: string, at: number): number {
  const code = text.charCodeAt(at - 1);
  return code >= 0xd800 && code <= 0xdbff ? at - 1 : at;
}

/** What `/\s/` matches, by char code, without a regular expression per char. */
function isWhitespace(code: number): boolean {
  if (code <= 0x20) return code === 0x20 || (code >= 0x09 && code <= 0x0d);
  if (code < 0xa0) return false;
  return (
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}
