import t from 'tap';
import { channelTypes, getAdapter } from '../../src/relay/adapters/index.js';
import { openaiAdapter } from '../../src/relay/adapters/openai.js';

t.test('the openai adapter is registered under its type', async (t) => {
  t.equal(getAdapter('openai'), openaiAdapter);
  t.same(channelTypes, ['openai']);
  t.equal(getAdapter('no-such-provider'), undefined);
  t.equal(openaiAdapter.defaultBaseUrl, 'https://api.openai.com');
});

t.test('url appends the request path to an origin', async (t) => {
  t.equal(openaiAdapter.url('https://api.openai.com', '/v1/chat/completions'), 'https://api.openai.com/v1/chat/completions');
  t.equal(openaiAdapter.url('http://127.0.0.1:11434/', '/v1/models'), 'http://127.0.0.1:11434/v1/models');
  t.equal(openaiAdapter.url('http://127.0.0.1:11434//', 'v1/models'), 'http://127.0.0.1:11434/v1/models');
});

t.test('a base URL ending in /v1 is not doubled', async (t) => {
  t.equal(openaiAdapter.url('https://api.deepseek.com/v1', '/v1/chat/completions'), 'https://api.deepseek.com/v1/chat/completions');
  t.equal(openaiAdapter.url('https://api.deepseek.com/v1/', '/v1/embeddings'), 'https://api.deepseek.com/v1/embeddings');
  t.equal(openaiAdapter.url('https://host/v1', '/v1/models?limit=2'), 'https://host/v1/models?limit=2');
});

t.test('a path prefix in the base URL is kept', async (t) => {
  t.equal(openaiAdapter.url('https://host/api/openai', '/v1/models'), 'https://host/api/openai/v1/models');
  t.equal(openaiAdapter.url('https://host/api/openai/v1', '/v1/models'), 'https://host/api/openai/v1/models');
  t.equal(openaiAdapter.url('https://host/v1beta', '/v1/models'), 'https://host/v1beta/v1/models', 'only a whole /v1 segment counts');
});

t.test('the query string of the request path is kept', async (t) => {
  t.equal(openaiAdapter.url('https://api.openai.com', '/v1/models?after=x&limit=5'), 'https://api.openai.com/v1/models?after=x&limit=5');
});

t.test('the key goes in a bearer authorization header', async (t) => {
  t.same(openaiAdapter.authHeaders('sk-abc'), { authorization: 'Bearer sk-abc' });
  t.equal(openaiAdapter.transformRequestBody, undefined, 'OpenAI-compatible bodies pass unchanged');
});
