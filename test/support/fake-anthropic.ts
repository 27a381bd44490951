// A fake Anthropic Messages API on 127.0.0.1 and a free port, speaking the real wire format (fixtures typed with
// @anthropic-ai/sdk's own types): `POST /v1/messages`, stream and non-stream, with the SSE sequence message_start →
// ping → content_block_start / _delta / _stop … → message_delta → message_stop, and Anthropic's error shape.
// Behaviour is chosen by the `x-api-key` the gateway forwards:
//   ok-*        answers (see `answerFor`)        bad-*      401 authentication_error
//   r429-*      429 rate_limit_error             err500-*   500 api_error
//   overload-*  529 overloaded_error             streamerr-* a stream: message_start, then an `error` event
//   err400-*    400 invalid_request_error
// A request without `max_tokens` or `messages` gets Anthropic's own 400 invalid_request_error.
import type { Message, RawMessageStreamEvent, Usage } from '@anthropic-ai/sdk/resources/messages';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

type Json = Record<string, unknown>;

export interface AnthropicRequest {
  path: string;
  key: string;
  headers: IncomingHttpHeaders;
  body: Json;
}

export interface FakeAnthropic {
  url: string;
  requests: AnthropicRequest[];
  lastFor(key: string): AnthropicRequest | undefined;
  countFor(key: string): number;
  close(): Promise<void>;
}

/** Usage of every answer: 12 uncached input tokens, 100 read from the cache, 50 written to it; 20 output. */
export const ANTHROPIC_USAGE = { input_tokens: 12, cache_read_input_tokens: 100, cache_creation_input_tokens: 50, output_tokens: 20 } as const;
/** Of the output, when thinking was asked for. */
export const ANTHROPIC_THINKING_TOKENS = 6;
export const ANTHROPIC_TEXT = 'Hello from fake Anthropic.';
export const ANTHROPIC_THINKING = 'Let me think about it.';
export const ANTHROPIC_TOOL_ID = 'toolu_01FakeWeather';

const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function usage(thinking: boolean, outputTokens: number = ANTHROPIC_USAGE.output_tokens): Usage {
  return {
    cache_creation: { ephemeral_1h_input_tokens: 0, ephemeral_5m_input_tokens: ANTHROPIC_USAGE.cache_creation_input_tokens },
    cache_creation_input_tokens: ANTHROPIC_USAGE.cache_creation_input_tokens,
    cache_read_input_tokens: ANTHROPIC_USAGE.cache_read_input_tokens,
    inference_geo: null,
    input_tokens: ANTHROPIC_USAGE.input_tokens,
    output_tokens: outputTokens,
    output_tokens_details: thinking ? { thinking_tokens: ANTHROPIC_THINKING_TOKENS } : null,
    server_tool_use: null,
    service_tier: 'standard',
    speed: null,
  };
}

type Block = { kind: 'thinking'; text: string } | { kind: 'text'; text: string } | { kind: 'tool'; name: string; input: Json };

/**
 * What the fake says: after a tool result, what the tool said; with tools offered (and not refused), a call of the
 * first with `{"city":"Paris"}`; about an image, which source it had; else a greeting. Thinking comes first when
 * asked for.
 */
function answerFor(body: Json): { blocks: Block[]; stop: 'end_turn' | 'tool_use' } {
  const messages = Array.isArray(body.messages) ? body.messages.filter(isRecord) : [];
  const last = messages[messages.length - 1];
  const content = last && Array.isArray(last.content) ? last.content.filter(isRecord) : [];
  const thinking = isRecord(body.thinking) && (body.thinking.type === 'enabled' || body.thinking.type === 'adaptive');
  const blocks: Block[] = thinking ? [{ kind: 'thinking', text: ANTHROPIC_THINKING }] : [];
  const result = content.find((b) => b.type === 'tool_result');
  if (result) {
    const said = typeof result.content === 'string' ? result.content : Array.isArray(result.content) ? result.content.filter(isRecord).map((b) => b.text).join('') : '';
    blocks.push({ kind: 'text', text: `Tool ${String(result.tool_use_id)} said: ${said}` });
    return { blocks, stop: 'end_turn' };
  }
  const tools = Array.isArray(body.tools) ? body.tools.filter(isRecord) : [];
  const refused = isRecord(body.tool_choice) && body.tool_choice.type === 'none';
  if (tools.length > 0 && !refused) {
    blocks.push({ kind: 'tool', name: String(tools[0]?.name), input: { city: 'Paris' } });
    return { blocks, stop: 'tool_use' };
  }
  const image = content.find((b) => b.type === 'image');
  const source = image && isRecord(image.source) ? image.source : null;
  blocks.push({ kind: 'text', text: source ? `I see an image (${String(source.type)}${source.type === 'base64' ? ` ${String(source.media_type)}` : ''}).` : ANTHROPIC_TEXT });
  return { blocks, stop: 'end_turn' };
}

function message(body: Json): Message {
  const { blocks, stop } = answerFor(body);
  const thinking = blocks.some((b) => b.kind === 'thinking');
  return {
    id: 'msg_01FakeAnthropic',
    container: null,
    diagnostics: null,
    model: String(body.model),
    role: 'assistant',
    stop_details: null,
    stop_reason: stop,
    stop_sequence: null,
    type: 'message',
    content: blocks.map((b) =>
      b.kind === 'thinking'
        ? { type: 'thinking' as const, thinking: b.text, signature: 'sig-fake' }
        : b.kind === 'text'
          ? { type: 'text' as const, text: b.text, citations: null }
          : { type: 'tool_use' as const, id: ANTHROPIC_TOOL_ID, name: b.name, input: b.input, caller: { type: 'direct' as const } },
    ),
    usage: usage(thinking),
  };
}

/** The stream of the same answer, with text and tool input split in pieces as Anthropic sends them. */
function streamEvents(body: Json, key: string): RawMessageStreamEvent[] {
  const whole = message(body);
  const thinking = whole.content.some((b) => b.type === 'thinking');
  const events: RawMessageStreamEvent[] = [
    { type: 'message_start', message: { ...whole, content: [], stop_reason: null, usage: usage(thinking, 1) } },
  ];
  if (key.startsWith('streamerr-')) return events;
  whole.content.forEach((block, index) => {
    if (block.type === 'thinking') {
      events.push({ type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } });
      for (const piece of pieces(block.thinking)) events.push({ type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: piece } });
      events.push({ type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: block.signature } });
    } else if (block.type === 'text') {
      events.push({ type: 'content_block_start', index, content_block: { type: 'text', text: '', citations: null } });
      for (const piece of pieces(block.text)) events.push({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: piece } });
    } else if (block.type === 'tool_use') {
      events.push({ type: 'content_block_start', index, content_block: { ...block, input: {} } });
      const json = JSON.stringify(block.input);
      const cut = Math.floor(json.length / 2);
      for (const piece of ['', json.slice(0, cut), json.slice(cut)]) events.push({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: piece } });
    }
    events.push({ type: 'content_block_stop', index });
  });
  events.push({
    type: 'message_delta',
    delta: { container: null, stop_details: null, stop_reason: whole.stop_reason, stop_sequence: null },
    usage: { cache_creation_input_tokens: null, cache_read_input_tokens: null, input_tokens: null, output_tokens: ANTHROPIC_USAGE.output_tokens, output_tokens_details: whole.usage.output_tokens_details, server_tool_use: null },
  });
  events.push({ type: 'message_stop' });
  return events;
}

/** Words with their following space, as deltas arrive. */
function pieces(text: string): string[] {
  return text.match(/\S+\s*/g) ?? [text];
}

function sendError(res: http.ServerResponse, status: number, type: string, message: string): void {
  const body = JSON.stringify({ type: 'error', error: { type, message }, request_id: 'req_fake_anthropic' });
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': 'req_fake_anthropic', ...(status === 429 ? { 'retry-after': '1' } : {}) });
  res.end(body);
}

export async function startFakeAnthropic(): Promise<FakeAnthropic> {
  const requests: AnthropicRequest[] = [];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (p: Buffer) => parts.push(p));
    req.on('end', () => {
      let body: Json = {};
      try {
        const parsed: unknown = JSON.parse(Buffer.concat(parts).toString('utf8'));
        if (isRecord(parsed)) body = parsed;
      } catch {
        return sendError(res, 400, 'invalid_request_error', 'There was an issue with the format or content of your request.');
      }
      const key = typeof req.headers['x-api-key'] === 'string' ? req.headers['x-api-key'] : '';
      requests.push({ path: req.url ?? '/', key, headers: req.headers, body });
      if (req.method !== 'POST' || (req.url ?? '').split('?')[0] !== '/v1/messages') return sendError(res, 404, 'not_found_error', 'Not found');
      if (!req.headers['anthropic-version']) return sendError(res, 400, 'invalid_request_error', 'anthropic-version: header is required');
      if (key.startsWith('bad-') || !key) return sendError(res, 401, 'authentication_error', 'invalid x-api-key');
      if (key.startsWith('r429-')) return sendError(res, 429, 'rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit');
      if (key.startsWith('err500-')) return sendError(res, 500, 'api_error', 'Internal server error');
      if (key.startsWith('overload-')) return sendError(res, 529, 'overloaded_error', 'Overloaded');
      if (key.startsWith('err400-')) return sendError(res, 400, 'invalid_request_error', 'messages.0.content.0.text: text content blocks must be non-empty');
      if (typeof body.max_tokens !== 'number') return sendError(res, 400, 'invalid_request_error', 'max_tokens: Field required');
      if (!Array.isArray(body.messages) || body.messages.length === 0) return sendError(res, 400, 'invalid_request_error', 'messages: Field required');
      const headers = { 'request-id': 'req_fake_anthropic', 'anthropic-ratelimit-requests-remaining': '99' };
      if (body.stream !== true) {
        const text = JSON.stringify(message(body));
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
        return void res.end(text);
      }
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...headers });
      const events = streamEvents(body, key);
      const out = events.map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
      // A ping after message_start, as Anthropic sends one.
      out.splice(1, 0, 'event: ping\ndata: {"type": "ping"}\n\n');
      if (key.startsWith('streamerr-')) out.push(`event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })}\n\n`);
      let i = 0;
      const next = (): void => {
        if (res.destroyed) return;
        if (i >= out.length) return void res.end();
        res.write(out[i] as string);
        i += 1;
        setImmediate(next);
      };
      next();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    lastFor: (key) => requests.findLast((r) => r.key === key),
    countFor: (key) => requests.filter((r) => r.key === key).length,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
