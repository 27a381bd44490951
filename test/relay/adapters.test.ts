import t from 'tap';
import { channelTypes, getAdapter, probeRequest } from '../../src/relay/adapters/index.js';
import { anthropicAdapter } from '../../src/relay/adapters/anthropic/index.js';
import { azureAdapter } from '../../src/relay/adapters/azure/index.js';
import { geminiAdapter } from '../../src/relay/adapters/gemini/index.js';
import { joinBaseUrl, openaiAdapter } from '../../src/relay/adapters/openai/index.js';

const url = (adapter = openaiAdapter, baseUrl: string, path: string, model = 'm', stream = false) => adapter.url({ baseUrl, path, model, stream });

t.test('every adapter is registered under its type', async (t) => {
  t.equal(getAdapter('openai'), openaiAdapter);
  t.equal(getAdapter('azure'), azureAdapter);
  t.equal(getAdapter('anthropic'), anthropicAdapter);
  t.equal(getAdapter('gemini'), geminiAdapter);
  t.same(channelTypes, ['openai', 'azure', 'anthropic', 'gemini']);
  t.equal(getAdapter('no-such-provider'), undefined);
  t.equal(openaiAdapter.defaultBaseUrl, 'https://api.openai.com');
});

t.test('url appends the request path to an origin', async (t) => {
  t.equal(url(openaiAdapter, 'https://api.openai.com', '/v1/chat/completions'), 'https://api.openai.com/v1/chat/completions');
  t.equal(url(openaiAdapter, 'http://127.0.0.1:11434/', '/v1/models'), 'http://127.0.0.1:11434/v1/models');
  t.equal(joinBaseUrl('http://127.0.0.1:11434//', 'v1/models'), 'http://127.0.0.1:11434/v1/models');
});

t.test('a base URL ending in /v1 is not doubled', async (t) => {
  t.equal(joinBaseUrl('https://api.deepseek.com/v1', '/v1/chat/completions'), 'https://api.deepseek.com/v1/chat/completions');
  t.equal(joinBaseUrl('https://api.deepseek.com/v1/', '/v1/embeddings'), 'https://api.deepseek.com/v1/embeddings');
  t.equal(joinBaseUrl('https://host/v1', '/v1/models?limit=2'), 'https://host/v1/models?limit=2');
});

t.test('a path prefix in the base URL is kept', async (t) => {
  t.equal(joinBaseUrl('https://host/api/openai', '/v1/models'), 'https://host/api/openai/v1/models');
  t.equal(joinBaseUrl('https://host/api/openai/v1', '/v1/models'), 'https://host/api/openai/v1/models');
  t.equal(joinBaseUrl('https://host/v1beta', '/v1/models'), 'https://host/v1beta/v1/models', 'only a whole /v1 segment counts');
});

t.test('the query string of the request path is kept, and a base URL query follows it', async (t) => {
  t.equal(joinBaseUrl('https://api.openai.com', '/v1/models?after=x&limit=5'), 'https://api.openai.com/v1/models?after=x&limit=5');
  t.equal(joinBaseUrl('https://gw.example/v1?api-version=1', '/v1/chat/completions'), 'https://gw.example/v1/chat/completions?api-version=1');
  t.equal(joinBaseUrl('https://gw.example?api-version=1', '/v1/models?limit=5'), 'https://gw.example/v1/models?limit=5&api-version=1');
});

t.test('each adapter carries the key in its own header, never in the URL', async (t) => {
  t.same(openaiAdapter.authHeaders('sk-abc', {}), { authorization: 'Bearer sk-abc' });
  t.same(azureAdapter.authHeaders('az-key', {}), { 'api-key': 'az-key' });
  t.same(anthropicAdapter.authHeaders('sk-ant', {}), { 'x-api-key': 'sk-ant', 'anthropic-version': '2023-06-01' });
  t.same(anthropicAdapter.authHeaders('sk-ant', { 'anthropic-version': '2024-01-01' }), { 'x-api-key': 'sk-ant', 'anthropic-version': '2024-01-01' }, "the client's version passes");
  t.same(geminiAdapter.authHeaders('AIzaKEY', {}), { 'x-goog-api-key': 'AIzaKEY' });
  for (const stream of [false, true]) t.notMatch(url(geminiAdapter, 'https://generativelanguage.googleapis.com', '/v1/chat/completions', 'gemini-2.5-flash', stream), /key=/);
  t.equal(openaiAdapter.codec, undefined, 'OpenAI-compatible bodies pass unchanged');
});

t.test('azure: deployment URL with the api-version of the base URL or the default', async (t) => {
  t.equal(url(azureAdapter, 'https://res.openai.azure.com', '/v1/chat/completions', 'gpt-4o'), 'https://res.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21');
  t.equal(url(azureAdapter, 'https://res.openai.azure.com/?api-version=2025-04-01-preview', '/v1/embeddings', 'emb'), 'https://res.openai.azure.com/openai/deployments/emb/embeddings?api-version=2025-04-01-preview');
  t.equal(url(azureAdapter, 'https://res.openai.azure.com/openai', '/v1/chat/completions', 'a b'), 'https://res.openai.azure.com/openai/deployments/a%20b/chat/completions?api-version=2024-10-21');
  t.equal(url(azureAdapter, 'https://res.openai.azure.com/openai/v1', '/v1/chat/completions', 'gpt-4o'), 'https://res.openai.azure.com/openai/v1/chat/completions', 'the v1 API: no deployment, no version');
  t.equal(url(azureAdapter, 'https://res.openai.azure.com', '/v1/responses', 'gpt-4o'), 'https://res.openai.azure.com/openai/responses?api-version=2024-10-21');
});

t.test('anthropic: every request goes to /v1/messages', async (t) => {
  t.equal(url(anthropicAdapter, 'https://api.anthropic.com', '/v1/chat/completions'), 'https://api.anthropic.com/v1/messages');
  t.equal(url(anthropicAdapter, 'https://proxy.example/v1', '/v1/messages'), 'https://proxy.example/v1/messages');
  t.ok(anthropicAdapter.serves('chat') && anthropicAdapter.serves('messages'));
  t.notOk(anthropicAdapter.serves('embeddings'));
});

t.test('gemini: model in the path, streams as SSE', async (t) => {
  t.equal(url(geminiAdapter, 'https://generativelanguage.googleapis.com', '/v1/chat/completions', 'gemini-2.5-flash'), 'https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent');
  t.equal(url(geminiAdapter, 'https://generativelanguage.googleapis.com/v1beta/', '/v1/chat/completions', 'models/gemini-2.5-pro', true), 'https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse');
  t.equal(url(geminiAdapter, 'https://host/v1', '/v1/chat/completions', 'x/../y'), 'https://host/v1/models/x%2F..%2Fy:generateContent', 'a mapped model cannot change the path');
});

t.test('probeRequest: a one-token ping in the channel\'s own format', async (t) => {
  const anthropic = probeRequest(anthropicAdapter, 'https://api.anthropic.com', 'sk-ant', 'claude-x');
  t.equal(anthropic.url, 'https://api.anthropic.com/v1/messages');
  t.same(JSON.parse(anthropic.body), { model: 'claude-x', messages: [{ role: 'user', content: [{ type: 'text', text: 'ping' }] }], max_tokens: 1 });
  t.equal(anthropic.headers['x-api-key'], 'sk-ant');
  const gemini = probeRequest(geminiAdapter, '', 'AIza', 'gemini-2.5-flash');
  t.equal(gemini.url, 'https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent');
  t.same(JSON.parse(gemini.body), { contents: [{ role: 'user', parts: [{ text: 'ping' }] }], generationConfig: { maxOutputTokens: 1 } });
});
