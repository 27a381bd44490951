import t from 'tap';
import { SseEventSplitter } from '../../src/relay/sse.js';
import { inspectChunk } from '../../src/relay/sse-event.js';
import { FAKE_SPEECH, startFakeUpstream, type FakeUpstream } from './fake-upstream.js';

let fake: FakeUpstream;
t.before(async () => {
  fake = await startFakeUpstream({ slowMs: 200, chunks: 5 });
});
t.teardown(() => fake.close());
t.beforeEach(() => fake.reset());

const post = (path: string, key: string, body: unknown, signal?: AbortSignal): Promise<Response> =>
  fetch(fake.url + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal,
  });

/** Reads an SSE body into its events, as the relay would see them. */
async function events(res: Response): Promise<string[]> {
  const splitter = new SseEventSplitter();
  const out: string[] = [];
  const reader = res.body?.getReader();
  if (!reader) return out;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    for (const e of splitter.push(Buffer.from(value))) out.push(e.toString());
  }
  return out;
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
}

t.test('ok-* answers a chat completion with usage and records the request', async (t) => {
  const res = await post('/v1/chat/completions', 'ok-1', { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
  t.equal(res.status, 200);
  t.equal(res.headers.get('openai-processing-ms'), '12');
  const json = (await res.json()) as { model: string; usage: unknown };
  t.equal(json.model, 'gpt-4o');
  t.same(json.usage, { prompt_tokens: 10, completion_tokens: 20, total_tokens: 30 });
  t.equal(fake.countFor('ok-1'), 1);
  t.same(fake.lastFor('ok-1')?.body, { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
  t.equal(fake.lastFor('ok-1')?.path, '/v1/chat/completions');
});

t.test('a stream sends the content chunks, then the usage chunk when asked, then [DONE]', async (t) => {
  const res = await post('/v1/chat/completions', 'ok-s', { model: 'm', messages: [], stream: true, stream_options: { include_usage: true } });
  t.equal(res.headers.get('content-type'), 'text/event-stream');
  const all = await events(res);
  const infos = all.map((e) => inspectChunk(Buffer.from(e)));
  t.equal(infos.map((i) => i.text).join(''), 'w0 w1 w2 w3 w4 ');
  t.same(infos.at(-2)?.usage, { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 });
  t.equal(infos.at(-2)?.usageOnly, true);
  t.equal(infos.at(-1)?.done, true);
});

t.test('nousage-* streams without the usage chunk even when asked', async (t) => {
  const res = await post('/v1/chat/completions', 'nousage-1', { model: 'm', messages: [], stream: true, stream_options: { include_usage: true } });
  const infos = (await events(res)).map((e) => inspectChunk(Buffer.from(e)));
  t.notOk(infos.some((i) => i.usage));
  t.equal(infos.at(-1)?.done, true);
});

t.test('a completions stream carries choices[].text', async (t) => {
  const res = await post('/v1/completions', 'ok-c', { model: 'm', prompt: 'x', stream: true });
  const infos = (await events(res)).map((e) => inspectChunk(Buffer.from(e)));
  t.equal(infos.map((i) => i.text).join(''), 'w0 w1 w2 w3 w4 ');
});

t.test('error keys answer with OpenAI error objects', async (t) => {
  for (const [key, status] of [['bad-1', 401], ['forbid-1', 403], ['r429-1', 429], ['err500-1', 500]] as const) {
    const res = await post('/v1/chat/completions', key, { model: 'm', messages: [] });
    t.equal(res.status, status, key);
    const json = (await res.json()) as { error?: { message?: unknown; type?: unknown } };
    t.type(json.error?.message, 'string');
    t.type(json.error?.type, 'string');
  }
});

t.test('slow-* waits slowMs before the head', async (t) => {
  const started = Date.now();
  const res = await post('/v1/embeddings', 'slow-1', { model: 'e', input: ['a', 'b'] });
  t.ok(Date.now() - started >= 180);
  const json = (await res.json()) as { data: unknown[]; usage: unknown };
  t.equal(json.data.length, 2);
  t.same(json.usage, { prompt_tokens: 16, total_tokens: 16 });
});

t.test('cut-* breaks the stream after three content chunks, and is not counted as a client abort', async (t) => {
  const res = await post('/v1/chat/completions', 'cut-1', { model: 'm', messages: [], stream: true });
  const text = await res.text().catch((err: unknown) => err);
  t.ok(text instanceof Error, 'the body fails');
  await new Promise((r) => setTimeout(r, 50));
  t.equal(fake.aborted, 0);
});

t.test('hang-* sends the first chunk then nothing; leaving counts as an abort', async (t) => {
  const controller = new AbortController();
  const res = await post('/v1/chat/completions', 'hang-1', { model: 'm', messages: [], stream: true }, controller.signal);
  const reader = res.body?.getReader();
  const first = await reader?.read();
  t.match(Buffer.from(first?.value ?? []).toString(), /"role":"assistant"/);
  controller.abort();
  await until(() => fake.aborted === 1);
  t.equal(fake.aborted, 1);
});

t.test('audio speech returns binary audio', async (t) => {
  const res = await post('/v1/audio/speech', 'ok-a', { model: 'tts-1', input: 'hi', voice: 'alloy' });
  t.equal(res.headers.get('content-type'), 'audio/mpeg');
  t.ok(Buffer.from(await res.arrayBuffer()).equals(FAKE_SPEECH));
});

t.test('transcriptions accept multipart and record its raw length', async (t) => {
  const form = new FormData();
  form.append('model', 'whisper-1');
  form.append('file', new Blob([new Uint8Array(3000)], { type: 'audio/wav' }), 'a.wav');
  const res = await fetch(`${fake.url}/v1/audio/transcriptions`, { method: 'POST', headers: { authorization: 'Bearer ok-t' }, body: form });
  t.same(await res.json(), { text: 'hello from the fake upstream' });
  const recorded = fake.lastFor('ok-t');
  t.ok((recorded?.rawLength ?? 0) > 3000);
  t.type(recorded?.body, 'string');
});

t.test('the other routes answer in OpenAI shape', async (t) => {
  const models = await fetch(`${fake.url}/v1/models`, { headers: { authorization: 'Bearer ok-m' } });
  t.match(await models.json(), { object: 'list', data: [{ id: 'mock-model' }] });
  t.match(await (await post('/v1/responses', 'ok-r', { model: 'm', input: 'x' })).json(), { object: 'response', usage: { input_tokens: 10 } });
  t.match(await (await post('/v1/moderations', 'ok-r', { input: 'x' })).json(), { results: [{ flagged: false }] });
  t.match(await (await post('/v1/images/generations', 'ok-r', { prompt: 'x' })).json(), { data: [{ url: String }] });
  t.equal((await post('/v1/nope', 'ok-r', {})).status, 404);
  t.equal(fake.countFor('ok-r'), 4);
});
