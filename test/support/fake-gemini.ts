// A fake Gemini API (generativelanguage v1beta) on 127.0.0.1 and a free port, speaking its wire format:
// `POST /v1beta/models/{model}:generateContent` → a GenerateContentResponse, and `:streamGenerateContent?alt=sse` →
// one GenerateContentResponse per SSE event (`data: …\r\n\r\n`, no end marker), usageMetadata growing on each and
// whole on the last; errors as `{"error": {code, message, status}}`. The key is read from `x-goog-api-key` only;
// the URL each request came in on is recorded, so tests can see no key was ever put in it.
//   ok-*   answers (see `answerFor`)     bad-*  400 API_KEY_INVALID (as Gemini answers a wrong key)
//   r429-* 429 RESOURCE_EXHAUSTED        err500-* 500 INTERNAL
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

type Json = Record<string, unknown>;

export interface GeminiRequest {
  /** The path and query, as received. */
  url: string;
  model: string;
  stream: boolean;
  key: string;
  headers: IncomingHttpHeaders;
  body: Json;
}

export interface FakeGemini {
  url: string;
  requests: GeminiRequest[];
  lastFor(key: string): GeminiRequest | undefined;
  close(): Promise<void>;
}

export const GEMINI_TEXT = 'Hello from fake Gemini.';
export const GEMINI_THOUGHT = 'Thinking it over.';
/** base64 of "sig-gemini": the thought signature of every function call. */
export const GEMINI_SIGNATURE = 'c2lnLWdlbWluaQ==';
/** 120 prompt tokens of which 80 cached; 15 candidate tokens (+ 5 thought tokens when thinking). */
export const GEMINI_USAGE = { promptTokenCount: 120, cachedContentTokenCount: 80, candidatesTokenCount: 15 } as const;
export const GEMINI_THOUGHT_TOKENS = 5;

const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

type Part = Json;

/**
 * After a functionResponse: what the function said; with function declarations offered (mode not NONE): a call of
 * the first with `{"city":"Paris"}`, signed; about an image: which kind of part it was; else a greeting. A thought
 * part comes first when thoughts were asked for.
 */
function answerFor(body: Json): { parts: Part[]; thinking: boolean } {
  const contents = Array.isArray(body.contents) ? body.contents.filter(isRecord) : [];
  const last = contents[contents.length - 1];
  const parts = last && Array.isArray(last.parts) ? last.parts.filter(isRecord) : [];
  const config = isRecord(body.generationConfig) ? body.generationConfig : {};
  const thinking = isRecord(config.thinkingConfig) && config.thinkingConfig.includeThoughts === true;
  const out: Part[] = thinking ? [{ text: GEMINI_THOUGHT, thought: true }] : [];
  const response = parts.find((p) => isRecord(p.functionResponse));
  if (response && isRecord(response.functionResponse)) {
    out.push({ text: `Function ${String(response.functionResponse.name)} said: ${JSON.stringify(response.functionResponse.response)}` });
    return { parts: out, thinking };
  }
  const tools = Array.isArray(body.tools) ? body.tools.filter(isRecord) : [];
  const declarations = tools.flatMap((t) => (Array.isArray(t.functionDeclarations) ? t.functionDeclarations.filter(isRecord) : []));
  const mode = isRecord(body.toolConfig) && isRecord(body.toolConfig.functionCallingConfig) ? body.toolConfig.functionCallingConfig.mode : 'AUTO';
  if (declarations.length > 0 && mode !== 'NONE') {
    out.push({ functionCall: { name: String(declarations[0]?.name), args: { city: 'Paris' } }, thoughtSignature: GEMINI_SIGNATURE });
    return { parts: out, thinking };
  }
  const image = parts.find((p) => isRecord(p.inlineData) || isRecord(p.fileData));
  if (image) {
    const kind = isRecord(image.inlineData) ? `inlineData ${String(image.inlineData.mimeType)}` : `fileData ${String((image.fileData as Json).fileUri)}`;
    out.push({ text: `I see an image (${kind}).` });
  } else {
    out.push({ text: GEMINI_TEXT });
  }
  return { parts: out, thinking };
}

function usageMetadata(thinking: boolean, candidates: number = GEMINI_USAGE.candidatesTokenCount): Json {
  const thoughts = thinking ? GEMINI_THOUGHT_TOKENS : 0;
  return {
    ...GEMINI_USAGE,
    candidatesTokenCount: candidates,
    ...(thinking ? { thoughtsTokenCount: thoughts } : {}),
    totalTokenCount: GEMINI_USAGE.promptTokenCount + candidates + thoughts,
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: GEMINI_USAGE.promptTokenCount }],
  };
}

function response(model: string, parts: Part[], finish: string | null, usage: Json): Json {
  const candidate: Json = { content: { role: 'model', parts }, index: 0 };
  if (finish) candidate.finishReason = finish;
  return { candidates: [candidate], usageMetadata: usage, modelVersion: model, responseId: 'fake-gemini-response' };
}

function sendError(res: http.ServerResponse, code: number, status: string, message: string): void {
  const body = JSON.stringify({ error: { code, message, status } });
  res.writeHead(code, { 'content-type': 'application/json; charset=UTF-8' });
  res.end(body);
}

export async function startFakeGemini(): Promise<FakeGemini> {
  const requests: GeminiRequest[] = [];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (p: Buffer) => parts.push(p));
    req.on('end', () => {
      let body: Json = {};
      try {
        const parsed: unknown = JSON.parse(Buffer.concat(parts).toString('utf8'));
        if (isRecord(parsed)) body = parsed;
      } catch {
        return sendError(res, 400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
      }
      const url = req.url ?? '/';
      const match = /^\/v1beta\/models\/([^/:?]+):(generateContent|streamGenerateContent)(\?.*)?$/.exec(url);
      const key = typeof req.headers['x-goog-api-key'] === 'string' ? req.headers['x-goog-api-key'] : '';
      const model = match ? decodeURIComponent(match[1] as string) : '';
      const stream = match?.[2] === 'streamGenerateContent';
      requests.push({ url, model, stream, key, headers: req.headers, body });
      if (!match || req.method !== 'POST') return sendError(res, 404, 'NOT_FOUND', `Invalid path ${url}`);
      if (!key || key.startsWith('bad-')) return sendError(res, 400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.');
      if (key.startsWith('r429-')) return sendError(res, 429, 'RESOURCE_EXHAUSTED', 'Resource has been exhausted (e.g. check quota).');
      if (key.startsWith('err500-')) return sendError(res, 500, 'INTERNAL', 'An internal error has occurred.');
      if (!Array.isArray(body.contents) || body.contents.length === 0) return sendError(res, 400, 'INVALID_ARGUMENT', '* GenerateContentRequest.contents: contents is not specified');
      const { parts: answer, thinking } = answerFor(body);
      if (!stream) {
        const hasCall = answer.some((p) => isRecord(p.functionCall));
        const text = JSON.stringify(response(model, answer, hasCall ? 'STOP' : 'STOP', usageMetadata(thinking)));
        res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
        return void res.end(text);
      }
      if (match[3] !== '?alt=sse') return sendError(res, 400, 'INVALID_ARGUMENT', 'this fake streams only with alt=sse');
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      // Each part, text split by word, as its own event; usage grows; the last event carries the finish.
      const pieces: Part[] = answer.flatMap((p) => (typeof p.text === 'string' ? (p.text.match(/\S+\s*/g) ?? [p.text]).map((text) => ({ ...p, text })) : [p]));
      const events = pieces.map((p, i) => {
        const last = i === pieces.length - 1;
        const usage = usageMetadata(thinking, last ? GEMINI_USAGE.candidatesTokenCount : i + 1);
        return `data: ${JSON.stringify(response(model, [p], last ? 'STOP' : null, usage))}\r\n\r\n`;
      });
      let i = 0;
      const next = (): void => {
        if (res.destroyed) return;
        if (i >= events.length) return void res.end();
        res.write(events[i] as string);
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
