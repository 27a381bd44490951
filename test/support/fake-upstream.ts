// A fake OpenAI-compatible upstream, started in-process on 127.0.0.1 and a free port, for end-to-end relay tests.
// Behaviour is chosen by the API key the gateway forwards (Authorization: Bearer <key>):
//   ok-*      answers normally                      bad-*     401 invalid key
//   forbid-*  403                                   r429-*    429 rate limited
//   err500-*  500                                   slow-*    waits slowMs before the response head
//   cut-*     stream socket destroyed after 3 content chunks
//   nousage-* stream without the usage chunk even when asked
//   hang-*    response head (and a stream's first chunk), then nothing until the client leaves
//   greedy-*  answers normally but reports 100,000 completion tokens (an upstream that ignored max_tokens)
// Faults (test/reliability):
//   err503-*  503                                   echo-*    401 whose message quotes the whole key
//   trickle-* a stream whose chunks come every trickleMs (slower than a short idle timeout)
//   stall-*   a non-stream answer: the head and half the body, then nothing
//   badjson-* 200 whose body is not JSON (non-stream) / an SSE event that is not JSON (stream)
//   err200-*  200 carrying an OpenAI error object (non-stream and stream)
//   huge-*    a non-stream answer of about hugeBytes, usage at its end
// `setStatus(key, status)` makes one exact key answer that error status until `setStatus(key, null)`.
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path with query string, as received. */
  path: string;
  /** The bearer key, without `Bearer `. */
  key: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON; the raw text for other bodies (multipart); null when there was no body. */
  body: unknown;
  rawLength: number;
  /** The body's bytes as received, decoded as UTF-8. */
  rawText: string;
}

export interface FakeUpstream {
  url: string;
  port: number;
  close(): Promise<void>;
  requests: RecordedRequest[];
  /** Responses whose client left before they finished (not counting `cut-*`, which the fake ends itself). */
  aborted: number;
  reset(): void;
  countFor(key: string): number;
  lastFor(key: string): RecordedRequest | undefined;
  /** Makes requests with exactly this key answer `status` (an error body), or normally again with null. */
  setStatus(key: string, status: number | null): void;
}

export interface FakeUpstreamOptions {
  /** Delay before the response head for `slow-*` keys. Default 3000. */
  slowMs?: number;
  /** Content chunks in a stream. Default 20. */
  chunks?: number;
  /** Delay between stream chunks. Default 0 (next tick). */
  paceMs?: number;
  /** Delay between stream chunks for `trickle-*` keys. Default 1000. */
  trickleMs?: number;
  /** Approximate body size for `huge-*` keys. Default 4 MiB. */
  hugeBytes?: number;
}

export const FAKE_USAGE = { prompt_tokens: 10, completion_tokens: 20, total_tokens: 30 } as const;
export const FAKE_CREATED = 1700000000;
/** What `huge-*` keys report. */
export const HUGE_USAGE = { prompt_tokens: 10, completion_tokens: 7, total_tokens: 17 } as const;
/** What `greedy-*` keys report: far more than any reservation covers. */
export const GREEDY_USAGE = { prompt_tokens: 10, completion_tokens: 100_000, total_tokens: 100_010 } as const;
/** Bytes returned by `/v1/audio/speech`. */
export const FAKE_SPEECH = Buffer.from([0x49, 0x44, 0x33, 0x04, 0x00, 0x00, ...Array.from({ length: 250 }, (_, i) => i)]);
/** Headers a real OpenAI response carries, so tests can check the relay passes them on. */
const OPENAI_HEADERS = {
  'openai-processing-ms': '12',
  'x-ratelimit-remaining-requests': '999',
  'x-request-id': 'req_fake_upstream',
} as const;

type Json = Record<string, unknown>;

export async function startFakeUpstream(opts: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  const slowMs = opts.slowMs ?? 3000;
  const chunks = opts.chunks ?? 20;
  const paceMs = opts.paceMs ?? 0;
  const trickleMs = opts.trickleMs ?? 1000;
  const hugeBytes = opts.hugeBytes ?? 4 * 1024 * 1024;
  const statusOverrides = new Map<string, number>();
  const timers = new Set<NodeJS.Timeout>();
  let closing = false;

  const later = (ms: number, fn: () => void): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };

  const server = http.createServer((req, res) => {
    let cutByUs = false;
    res.on('close', () => {
      if (!res.writableFinished && !cutByUs && !closing) fake.aborted += 1;
    });
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      const raw = Buffer.concat(parts);
      const key = bearerKey(req.headers.authorization);
      const body = parseBody(raw, req.headers['content-type']);
      fake.requests.push({ method: req.method ?? 'GET', path: req.url ?? '/', key, headers: req.headers, body: body.value, rawLength: raw.length, rawText: raw.toString('utf8') });
      if (body.invalid) return sendError(res, 400, 'We could not parse the JSON body of your request.', 'invalid_request_error', null);
      const override = statusOverrides.get(key);
      if (override !== undefined) return sendError(res, override, `fake upstream set to answer ${override}`, 'server_error', null);
      const failure = keyFailure(key);
      if (failure) return sendError(res, ...failure);
      const answer = (): void => {
        if (res.destroyed) return;
        const request: Answering = { req, res, key, body: isRecord(body.value) ? body.value : {}, chunks, paceMs: key.startsWith('trickle-') ? trickleMs : paceMs, hugeBytes, later, cut: () => { cutByUs = true; res.socket?.destroy(); } };
        route(request);
      };
      if (key.startsWith('slow-')) later(slowMs, answer);
      else answer();
    });
  });
  server.keepAliveTimeout = 65_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  const fake: FakeUpstream = {
    url: `http://127.0.0.1:${port}`,
    port,
    requests: [],
    aborted: 0,
    reset() {
      fake.requests.length = 0;
      fake.aborted = 0;
    },
    countFor(key) {
      return fake.requests.filter((r) => r.key === key).length;
    },
    lastFor(key) {
      return fake.requests.findLast((r) => r.key === key);
    },
    setStatus(key, status) {
      if (status === null) statusOverrides.delete(key);
      else statusOverrides.set(key, status);
    },
    async close() {
      closing = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
  return fake;
}

interface Answering {
  req: IncomingMessage;
  res: ServerResponse;
  key: string;
  body: Json;
  chunks: number;
  paceMs: number;
  hugeBytes: number;
  later(ms: number, fn: () => void): void;
  /** Destroys the socket mid-response, as a failing upstream would. */
  cut(): void;
}

function route(a: Answering): void {
  const path = (a.req.url ?? '/').split('?')[0] ?? '/';
  const model = typeof a.body.model === 'string' ? a.body.model : 'mock-model';
  const method = a.req.method ?? 'GET';
  if (method === 'GET' && (path === '/v1/models' || path.startsWith('/v1/models/'))) return models(a, path);
  if (method !== 'POST') return sendError(a.res, 404, `Invalid URL (${method} ${path})`, 'invalid_request_error', null);
  switch (path) {
    case '/v1/chat/completions':
      return a.body.stream === true ? stream(a, model, 'chat') : chatCompletion(a, model);
    case '/v1/completions':
      return a.body.stream === true ? stream(a, model, 'text') : completion(a, model);
    case '/v1/embeddings':
      return embeddings(a, model);
    case '/v1/moderations':
      return sendJson(a, { id: 'modr-mock', model, results: [{ flagged: false, categories: {}, category_scores: {} }] });
    case '/v1/responses':
      return responses(a, model);
    case '/v1/images/generations':
      return sendJson(a, { created: FAKE_CREATED, data: [{ url: 'https://images.invalid/mock.png', revised_prompt: String(a.body.prompt ?? '') }] });
    case '/v1/audio/speech':
      return sendBytes(a, FAKE_SPEECH, 'audio/mpeg');
    case '/v1/audio/transcriptions':
      return sendJson(a, { text: 'hello from the fake upstream' });
    default:
      return sendError(a.res, 404, `Invalid URL (${method} ${path})`, 'invalid_request_error', null);
  }
}

function models(a: Answering, path: string): void {
  const model = (id: string): Json => ({ id, object: 'model', created: FAKE_CREATED, owned_by: 'mock' });
  if (path === '/v1/models') return sendJson(a, { object: 'list', data: [model('mock-model')] });
  return sendJson(a, model(decodeURIComponent(path.slice('/v1/models/'.length))));
}

function chatCompletion(a: Answering, model: string): void {
  if (a.key.startsWith('huge-')) return huge(a, model);
  sendJson(a, {
    id: 'chatcmpl-mock',
    object: 'chat.completion',
    created: FAKE_CREATED,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from mock upstream.' }, finish_reason: 'stop' }],
    usage: a.key.startsWith('greedy-') ? GREEDY_USAGE : FAKE_USAGE,
  });
}

function completion(a: Answering, model: string): void {
  sendJson(a, {
    id: 'cmpl-mock',
    object: 'text_completion',
    created: FAKE_CREATED,
    model,
    choices: [{ index: 0, text: 'hello', finish_reason: 'stop' }],
    usage: FAKE_USAGE,
  });
}

function embeddings(a: Answering, model: string): void {
  const n = Array.isArray(a.body.input) ? a.body.input.length : 1;
  sendJson(a, {
    object: 'list',
    model,
    data: Array.from({ length: n }, (_, index) => ({ object: 'embedding', index, embedding: [0.1, 0.2, 0.3] })),
    usage: { prompt_tokens: 8 * n, total_tokens: 8 * n },
  });
}

function responses(a: Answering, model: string): void {
  if (a.body.stream === true) return responsesStream(a, model);
  sendJson(a, {
    id: 'resp_mock',
    object: 'response',
    created_at: FAKE_CREATED,
    status: 'completed',
    model,
    output: [
      {
        type: 'message',
        id: 'msg_mock',
        status: 'completed',
        role: 'assistant',
        content: [{ type: 'output_text', text: 'Hello from mock upstream.', annotations: [] }],
      },
    ],
    usage: { input_tokens: 10, output_tokens: 20, total_tokens: 30 },
  });
}

/**
 * A Responses API stream: typed events, text in `response.output_text.delta`, usage only inside
 * `response.completed` (`nousage-` keys leave it out, `cut-` keys cut the stream after 3 deltas).
 */
function responsesStream(a: Answering, model: string): void {
  const { res, key } = a;
  const event = (type: string, data: Json) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...OPENAI_HEADERS, 'x-mock-key': key });
  res.write(event('response.created', { response: { id: 'resp_mock', object: 'response', status: 'in_progress', model } }));
  for (let i = 0; i < a.chunks; i++) {
    if (key.startsWith('cut-') && i === 3) return a.cut();
    res.write(event('response.output_text.delta', { item_id: 'msg_mock', output_index: 0, content_index: 0, delta: `w${i} ` }));
  }
  const usage = key.startsWith('nousage-') ? {} : { usage: { input_tokens: 10, output_tokens: 20, total_tokens: 30 } };
  res.end(event('response.completed', { response: { id: 'resp_mock', object: 'response', status: 'completed', model, ...usage } }));
}

/** A chat or completions stream: a role chunk, `chunks` content chunks, a finish chunk, maybe usage, [DONE]. */
function stream(a: Answering, model: string, kind: 'chat' | 'text'): void {
  const { res, key } = a;
  const id = kind === 'chat' ? 'chatcmpl-mock' : 'cmpl-mock';
  const object = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
  const streamOptions = a.body.stream_options;
  const wantUsage = isRecord(streamOptions) && streamOptions.include_usage === true && !key.startsWith('nousage-');
  const event = (choices: unknown[], usage?: Json): string =>
    `data: ${JSON.stringify({ id, object, created: FAKE_CREATED, model, choices, ...(usage ? { usage } : {}) })}\n\n`;
  const content = (text: string): unknown[] =>
    kind === 'chat' ? [{ index: 0, delta: { content: text }, finish_reason: null }] : [{ index: 0, text, finish_reason: null }];
  const finish = (): unknown[] =>
    kind === 'chat' ? [{ index: 0, delta: {}, finish_reason: 'stop' }] : [{ index: 0, text: '', finish_reason: 'stop' }];

  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', ...OPENAI_HEADERS, 'x-mock-key': key });
  if (key.startsWith('badjson-')) return void res.end('data: {"id": "chatcmpl-mock", "choices": [\n\ndata: [DONE]\n\n');
  if (key.startsWith('err200-')) {
    return void res.end(`data: ${JSON.stringify({ error: { message: 'The model is overloaded.', type: 'server_error', param: null, code: null } })}\n\n`);
  }
  res.write(kind === 'chat' ? event([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]) : event(content('')));
  if (key.startsWith('hang-')) return;

  let i = 0;
  const next = (): void => {
    if (res.destroyed) return;
    if (key.startsWith('cut-') && i === 3) return a.cut();
    if (i < a.chunks) {
      res.write(event(content(`w${i} `)));
      i += 1;
      if (a.paceMs > 0) a.later(a.paceMs, next);
      else setImmediate(next);
      return;
    }
    res.write(event(finish()));
    if (wantUsage) res.write(event([], { prompt_tokens: 10, completion_tokens: a.chunks, total_tokens: 10 + a.chunks }));
    res.end('data: [DONE]\n\n');
  };
  next();
}

function sendJson(a: Answering, obj: Json): void {
  if (a.key.startsWith('hang-')) return hang(a.res, 'application/json');
  if (a.key.startsWith('err200-')) obj = { error: { message: 'The model is overloaded.', type: 'server_error', param: null, code: null } };
  let body = JSON.stringify(obj);
  if (a.key.startsWith('badjson-')) body = body.slice(0, Math.floor(body.length / 2));
  if (a.key.startsWith('stall-')) {
    a.res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...OPENAI_HEADERS, 'x-mock-key': a.key });
    a.res.write(body.slice(0, Math.floor(body.length / 2)));
    return;
  }
  a.res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...OPENAI_HEADERS, 'x-mock-key': a.key });
  a.res.end(body);
}

function sendBytes(a: Answering, bytes: Buffer, contentType: string): void {
  if (a.key.startsWith('hang-')) return hang(a.res, contentType);
  a.res.writeHead(200, { 'content-type': contentType, 'content-length': bytes.length, ...OPENAI_HEADERS, 'x-mock-key': a.key });
  a.res.end(bytes);
}

/** A chat completion of about `hugeBytes` (one long message), usage at its end as OpenAI sends it. */
function huge(a: Answering, model: string): void {
  const content = 'x'.repeat(a.hugeBytes);
  sendJson(a, {
    id: 'chatcmpl-mock',
    object: 'chat.completion',
    created: FAKE_CREATED,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: HUGE_USAGE,
  });
}

/** Sends the head of a non-stream answer and then nothing: the body never completes. */
function hang(res: ServerResponse, contentType: string): void {
  res.writeHead(200, { 'content-type': contentType, ...OPENAI_HEADERS });
  res.flushHeaders();
}

function sendError(res: ServerResponse, status: number, message: string, type: string, code: string | null): void {
  const body = JSON.stringify({ error: { message, type, param: null, code } });
  const retryAfter = status === 429 ? { 'retry-after': '1' } : {};
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-request-id': 'req_fake_upstream', ...retryAfter });
  res.end(body);
}

function keyFailure(key: string): [number, string, string, string | null] | null {
  if (key.startsWith('echo-')) return [401, `Incorrect API key provided: ${key}. You can find your API key at https://platform.openai.com/account/api-keys.`, 'invalid_request_error', 'invalid_api_key'];
  if (key.startsWith('err503-')) return [503, 'The engine is currently overloaded, please try again later.', 'server_error', null];
  if (key.startsWith('bad-')) return [401, 'Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key'];
  if (key.startsWith('forbid-')) return [403, 'Country, region, or territory not supported', 'request_forbidden', 'unsupported_country_region_territory'];
  if (key.startsWith('r429-')) return [429, 'Rate limit reached. Please slow down.', 'requests', 'rate_limit_exceeded'];
  if (key.startsWith('err500-')) return [500, 'The server had an error while processing your request.', 'server_error', null];
  return null;
}

function bearerKey(authorization: string | undefined): string {
  return (authorization ?? '').replace(/^Bearer\s+/i, '');
}

function parseBody(raw: Buffer, contentType: string | undefined): { value: unknown; invalid: boolean } {
  if (raw.length === 0) return { value: null, invalid: false };
  const text = raw.toString('utf8');
  const declaredJson = (contentType ?? '').toLowerCase().includes('json');
  try {
    return { value: JSON.parse(text), invalid: false };
  } catch {
    return { value: text, invalid: declaredJson };
  }
}

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
