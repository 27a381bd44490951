// A fake Azure OpenAI resource (`/openai/deployments/{deployment}/chat/completions?api-version=…`, key in `api-key`)
// that also answers as a plain OpenAI-compatible upstream (`/v1/chat/completions`, key as a bearer token), on
// 127.0.0.1 and a free port. Unlike fake-upstream.ts it understands what conversions carry: tools and tool results,
// images, reasoning (DeepSeek-style `reasoning_content`), and reports cached and reasoning tokens.
//   ok-* answers (see `answerFor`)     bad-* 401     r429-* 429
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

type Json = Record<string, unknown>;

export interface OpenAIRequest {
  path: string;
  /** Azure's `{deployment}`; null on the OpenAI path. */
  deployment: string | null;
  apiVersion: string | null;
  key: string;
  headers: IncomingHttpHeaders;
  body: Json;
}

export interface FakeOpenAIPlus {
  url: string;
  requests: OpenAIRequest[];
  lastFor(key: string): OpenAIRequest | undefined;
  close(): Promise<void>;
}

export const AZURE_TEXT = 'Hello from fake Azure.';
export const AZURE_REASONING = 'Reasoning briefly.';
export const AZURE_TOOL_ID = 'call_fake_weather_1';
/** 200 prompt tokens, 150 of them cached; 30 completion tokens (8 of them reasoning when reasoning was asked for). */
export const AZURE_USAGE = { prompt_tokens: 200, cached_tokens: 150, completion_tokens: 30, reasoning_tokens: 8 } as const;

const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

interface Answer {
  reasoning: string | null;
  text: string | null;
  call: { name: string; arguments: string } | null;
}

function answerFor(body: Json): Answer {
  const messages = Array.isArray(body.messages) ? body.messages.filter(isRecord) : [];
  const last = messages[messages.length - 1];
  const reasoning = typeof body.reasoning_effort === 'string' ? AZURE_REASONING : null;
  if (last?.role === 'tool') return { reasoning, text: `Tool ${String(last.tool_call_id)} said: ${String(last.content)}`, call: null };
  const tools = Array.isArray(body.tools) ? body.tools.filter(isRecord) : [];
  if (tools.length > 0 && body.tool_choice !== 'none') {
    const fn = isRecord(tools[0]?.function) ? (tools[0].function as Json) : {};
    return { reasoning, text: null, call: { name: String(fn.name), arguments: '{"city":"Paris"}' } };
  }
  const content = last && Array.isArray(last.content) ? last.content.filter(isRecord) : [];
  const image = content.find((p) => p.type === 'image_url');
  const url = image && isRecord(image.image_url) ? String(image.image_url.url) : null;
  const text = url ? `I see an image (${url.startsWith('data:') ? url.slice(0, url.indexOf(';')) : url}).` : AZURE_TEXT;
  return { reasoning, text, call: null };
}

function usage(reasoning: boolean): Json {
  return {
    prompt_tokens: AZURE_USAGE.prompt_tokens,
    completion_tokens: AZURE_USAGE.completion_tokens,
    total_tokens: AZURE_USAGE.prompt_tokens + AZURE_USAGE.completion_tokens,
    prompt_tokens_details: { cached_tokens: AZURE_USAGE.cached_tokens, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: reasoning ? AZURE_USAGE.reasoning_tokens : 0, audio_tokens: 0 },
  };
}

function sendError(res: http.ServerResponse, status: number, message: string, code: string): void {
  const body = JSON.stringify({ error: { message, type: 'invalid_request_error', param: null, code } });
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(body);
}

export async function startFakeOpenAIPlus(): Promise<FakeOpenAIPlus> {
  const requests: OpenAIRequest[] = [];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (p: Buffer) => parts.push(p));
    req.on('end', () => {
      let body: Json = {};
      try {
        const parsed: unknown = JSON.parse(Buffer.concat(parts).toString('utf8'));
        if (isRecord(parsed)) body = parsed;
      } catch {
        return sendError(res, 400, 'We could not parse the JSON body of your request.', 'invalid_json');
      }
      const url = new URL(req.url ?? '/', 'http://fake');
      const azure = /^\/openai\/deployments\/([^/]+)\/chat\/completions$/.exec(url.pathname);
      const key = azure ? String(req.headers['api-key'] ?? '') : String(req.headers.authorization ?? '').replace(/^Bearer\s+/i, '');
      const request: OpenAIRequest = { path: `${url.pathname}${url.search}`, deployment: azure ? decodeURIComponent(azure[1] as string) : null, apiVersion: url.searchParams.get('api-version'), key, headers: req.headers, body };
      requests.push(request);
      if (!azure && url.pathname !== '/v1/chat/completions') return sendError(res, 404, 'Resource not found', 'not_found');
      if (azure && !request.apiVersion) return sendError(res, 404, 'Resource not found', 'not_found');
      if (!key || key.startsWith('bad-')) return sendError(res, 401, 'Access denied due to invalid subscription key.', 'invalid_api_key');
      if (key.startsWith('r429-')) return sendError(res, 429, 'Rate limit reached.', 'rate_limit_exceeded');
      const model = azure ? request.deployment : String(body.model);
      const answer = answerFor(body);
      const reasoning = answer.reasoning !== null;
      if (body.stream !== true) {
        const message: Json = { role: 'assistant', content: answer.text, refusal: null };
        if (answer.reasoning) message.reasoning_content = answer.reasoning;
        if (answer.call) message.tool_calls = [{ id: AZURE_TOOL_ID, type: 'function', function: answer.call }];
        const text = JSON.stringify({
          id: 'chatcmpl-fakeazure',
          object: 'chat.completion',
          created: 1700000000,
          model,
          choices: [{ index: 0, message, finish_reason: answer.call ? 'tool_calls' : 'stop', logprobs: null }],
          usage: usage(reasoning),
        });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        return void res.end(text);
      }
      const chunk = (delta: Json, finish: string | null = null): string =>
        `data: ${JSON.stringify({ id: 'chatcmpl-fakeazure', object: 'chat.completion.chunk', created: 1700000000, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      const out = [chunk({ role: 'assistant', content: '' })];
      if (answer.reasoning) for (const piece of answer.reasoning.match(/\S+\s*/g) ?? []) out.push(chunk({ reasoning_content: piece }));
      if (answer.text) for (const piece of answer.text.match(/\S+\s*/g) ?? []) out.push(chunk({ content: piece }));
      if (answer.call) {
        out.push(chunk({ tool_calls: [{ index: 0, id: AZURE_TOOL_ID, type: 'function', function: { name: answer.call.name, arguments: '' } }] }));
        out.push(chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }));
        out.push(chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }));
      }
      out.push(chunk({}, answer.call ? 'tool_calls' : 'stop'));
      const options = isRecord(body.stream_options) ? body.stream_options : {};
      if (options.include_usage === true) {
        out.push(`data: ${JSON.stringify({ id: 'chatcmpl-fakeazure', object: 'chat.completion.chunk', created: 1700000000, model, choices: [], usage: usage(reasoning) })}\n\n`);
      }
      out.push('data: [DONE]\n\n');
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
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
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
