import t from 'tap';
import { SseEventSplitter } from '../../src/relay/sse.js';
import { inspectChunk } from '../../src/relay/sse-event.js';

const chunkEvent = (content: string): string =>
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;
const usageEvent = `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 10, completion_tokens: 3, total_tokens: 13 } })}\n\n`;
const stream = chunkEvent('Hel') + chunkEvent('lo') + usageEvent + 'data: [DONE]\n\n';

const texts = (buffers: Buffer[]): string[] => buffers.map((b) => b.toString('utf8'));

t.test('an event split across every byte boundary comes out whole, once', async (t) => {
  const splitter = new SseEventSplitter();
  const out: Buffer[] = [];
  const bytes = Buffer.from(stream);
  for (let i = 0; i < bytes.length; i++) out.push(...splitter.push(bytes.subarray(i, i + 1)));
  t.same(texts(out), [chunkEvent('Hel'), chunkEvent('lo'), usageEvent, 'data: [DONE]\n\n']);
  t.equal(splitter.flush(), null);
});

t.test('several events in one chunk are all returned, and the tail is held', async (t) => {
  const splitter = new SseEventSplitter();
  const out = splitter.push(Buffer.from(chunkEvent('a') + chunkEvent('b') + 'data: {"partial'));
  t.same(texts(out), [chunkEvent('a'), chunkEvent('b')]);
  t.equal(splitter.heldBytes, 'data: {"partial'.length);
  t.same(texts(splitter.push(Buffer.from('":1}\n\n'))), ['data: {"partial":1}\n\n']);
  t.equal(splitter.heldBytes, 0);
});

t.test('CRLF line endings end events, also when split between CR and LF', async (t) => {
  const crlf = 'event: message\r\ndata: {"a":1}\r\n\r\ndata: [DONE]\r\n\r\n';
  const whole = new SseEventSplitter().push(Buffer.from(crlf));
  t.same(texts(whole), ['event: message\r\ndata: {"a":1}\r\n\r\n', 'data: [DONE]\r\n\r\n']);

  const splitter = new SseEventSplitter();
  const out: Buffer[] = [];
  const bytes = Buffer.from(crlf);
  for (let i = 0; i < bytes.length; i++) out.push(...splitter.push(bytes.subarray(i, i + 1)));
  t.same(texts(out), texts(whole));
});

t.test('a single line ending inside an event does not end it', async (t) => {
  const splitter = new SseEventSplitter();
  t.same(splitter.push(Buffer.from('id: 1\ndata: x\n')), []);
  t.same(texts(splitter.push(Buffer.from('\n'))), ['id: 1\ndata: x\n\n']);
});

t.test('the concatenation of all output equals the input', async (t) => {
  const input = Buffer.from(stream.repeat(5) + 'data: trailing');
  const splitter = new SseEventSplitter();
  const out: Buffer[] = [];
  for (let i = 0; i < input.length; i += 7) out.push(...splitter.push(input.subarray(i, i + 7)));
  const rest = splitter.flush();
  t.ok(rest);
  if (rest) out.push(rest);
  t.ok(Buffer.concat(out).equals(input));
});

t.test('an event complete within one chunk is a view of that chunk, not a copy', async (t) => {
  const chunk = Buffer.from(chunkEvent('x') + chunkEvent('y'));
  const [first] = new SseEventSplitter().push(chunk);
  chunk[0] = 0x44; // 'D': visible through the event only if both share memory
  t.equal(first?.toString('utf8', 0, 5), 'Data:');
});

t.test('an unfinished event past maxEventBytes is emitted as-is, and the rest follows', async (t) => {
  const splitter = new SseEventSplitter({ maxEventBytes: 16 });
  t.same(splitter.push(Buffer.from('data: 0123456789')), [], 'at the bound it is still held');
  const out = texts(splitter.push(Buffer.from('abc')));
  t.same(out, ['data: 0123456789abc']);
  t.equal(splitter.heldBytes, 0);
  t.same(texts(splitter.push(Buffer.from('\n\ndata: next\n\n'))), ['\n\n', 'data: next\n\n']);
});

t.test('flush returns the unterminated tail at stream end, then nothing', async (t) => {
  const splitter = new SseEventSplitter();
  splitter.push(Buffer.from('data: {"x":'));
  splitter.push(Buffer.from('1}'));
  t.equal(splitter.flush()?.toString(), 'data: {"x":1}');
  t.equal(splitter.flush(), null);
});

t.test('inspectChunk reads the text of a chat delta', async (t) => {
  t.same(inspectChunk(Buffer.from(chunkEvent('Hello'))), { done: false, usage: null, usageOnly: false, text: 'Hello' });
});

t.test('inspectChunk reads the text of a completions chunk', async (t) => {
  const event = `data: ${JSON.stringify({ object: 'text_completion', choices: [{ index: 0, text: 'abc' }, { index: 1, text: 'def' }] })}\n\n`;
  t.equal(inspectChunk(Buffer.from(event)).text, 'abcdef');
});

t.test('inspectChunk detects the usage-only chunk of include_usage', async (t) => {
  t.same(inspectChunk(Buffer.from(usageEvent)), {
    done: false,
    usage: { prompt_tokens: 10, completion_tokens: 3, total_tokens: 13 },
    usageOnly: true,
    text: '',
  });
});

t.test('usage on a chunk that still has choices is usage but not usage-only', async (t) => {
  const event = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'z' } }], usage: { prompt_tokens: 1, completion_tokens: 2 } })}\n\n`;
  const info = inspectChunk(Buffer.from(event));
  t.same(info.usage, { prompt_tokens: 1, completion_tokens: 2 });
  t.equal(info.usageOnly, false);
  t.equal(info.text, 'z');
});

t.test('usage: null is no usage', async (t) => {
  const event = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'q' } }], usage: null })}\n\n`;
  t.equal(inspectChunk(Buffer.from(event)).usage, null);
});

t.test('inspectChunk recognises [DONE], with or without CRLF', async (t) => {
  t.equal(inspectChunk(Buffer.from('data: [DONE]\n\n')).done, true);
  t.equal(inspectChunk(Buffer.from('data:[DONE]\r\n\r\n')).done, true);
});

t.test('several data lines are joined by LF; event, id and comment lines are ignored', async (t) => {
  const event = ': keep-alive\nevent: chunk\nid: 7\ndata: {"choices":[{"delta":\ndata: {"content":"hi"}}]}\n\n';
  t.equal(inspectChunk(Buffer.from(event)).text, 'hi');
});

t.test('non-JSON or data-less events give an empty result and never throw', async (t) => {
  const empty = { done: false, usage: null, usageOnly: false, text: '' };
  t.same(inspectChunk(Buffer.from('data: not json\n\n')), empty);
  t.same(inspectChunk(Buffer.from(': ping\n\n')), empty);
  t.same(inspectChunk(Buffer.from('data: [1,2]\n\n')), empty);
  t.same(inspectChunk(Buffer.from('data: {"choices":"nope","usage":7}\n\n')), empty);
  t.same(inspectChunk(Buffer.from('data: {"trunc')), empty);
});

t.test('reasoning content and tool-call arguments count as generated text', async (t) => {
  const event = `data: ${JSON.stringify({ choices: [{ delta: { reasoning_content: 'think ', tool_calls: [{ index: 0, function: { arguments: '{"a":1}' } }] } }] })}\n\n`;
  t.equal(inspectChunk(Buffer.from(event)).text, 'think {"a":1}');
});

t.test('an event trickled out in thousands of tiny chunks still comes out whole', async (t) => {
  const event = `data: ${JSON.stringify({ choices: [{ delta: { content: 'x'.repeat(5000) } }] })}\n\n`;
  const bytes = Buffer.from(event);
  const splitter = new SseEventSplitter();
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(...splitter.push(bytes.subarray(i, i + 1)));
  t.equal(out.length, 1);
  t.equal(inspectChunk(out[0] as Buffer).text.length, 5000);
});

t.test('inspectChunk: Responses API events — text from deltas, usage only from response.completed', async (t) => {
  const ev = (type: string, data: object) => Buffer.from(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`)
  t.same(inspectChunk(ev('response.output_text.delta', { delta: 'Hello' })), { done: false, usage: null, usageOnly: false, text: 'Hello' })
  t.same(inspectChunk(ev('response.completed', { response: { usage: { input_tokens: 10, output_tokens: 20, total_tokens: 30 } } })), {
    done: false,
    usage: { prompt_tokens: 10, completion_tokens: 20 },
    usageOnly: false,
    text: '',
  })
  t.same(inspectChunk(ev('response.created', { response: { id: 'r' } })), { done: false, usage: null, usageOnly: false, text: '' })
})
