import t from 'tap';
import { clientResponseHeaders, upstreamRequestHeaders } from '../../src/relay/headers.js';

const opts = { authorization: 'Bearer sk-channel', requestId: 'req-1' };

t.test('upstream request keeps ordinary headers and sets auth, request id and identity encoding', async (t) => {
  const out = upstreamRequestHeaders(
    {
      'content-type': 'application/json',
      accept: 'text/event-stream',
      'user-agent': 'OpenAI/JS 6.0',
      'openai-beta': 'assistants=v2',
      'x-stainless-os': 'Linux',
    },
    opts,
  );
  t.same(out, {
    'content-type': 'application/json',
    accept: 'text/event-stream',
    'user-agent': 'OpenAI/JS 6.0',
    'openai-beta': 'assistants=v2',
    'x-stainless-os': 'Linux',
    'accept-encoding': 'identity',
    authorization: 'Bearer sk-channel',
    'x-request-id': 'req-1',
  });
});

t.test('upstream request drops hop-by-hop headers and those named in Connection', async (t) => {
  const out = upstreamRequestHeaders(
    {
      connection: 'keep-alive, X-Private-Hop',
      'keep-alive': 'timeout=5',
      'proxy-authorization': 'Basic abc',
      'proxy-foo': 'x',
      te: 'trailers',
      trailer: 'x-t',
      'transfer-encoding': 'chunked',
      upgrade: 'h2c',
      'x-private-hop': 'secret',
      'content-type': 'application/json',
    },
    opts,
  );
  for (const name of ['connection', 'keep-alive', 'proxy-authorization', 'proxy-foo', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'x-private-hop']) {
    t.notOk(name in out, `${name} dropped`);
  }
  t.equal(out['content-type'], 'application/json');
});

t.test('upstream request never carries the client credentials, cookies, address or length', async (t) => {
  const out = upstreamRequestHeaders(
    {
      host: 'gateway.example',
      'content-length': '42',
      authorization: 'Bearer sk-client-relay-token',
      'x-api-key': 'sk-client',
      'api-key': 'sk-client',
      cookie: 'session=1',
      'x-forwarded-for': '10.0.0.1',
      'x-forwarded-proto': 'https',
      forwarded: 'for=10.0.0.1',
      'x-real-ip': '10.0.0.1',
      'accept-encoding': 'gzip, br',
      'x-request-id': 'client-chosen',
      'openai-organization': 'org-client',
    },
    opts,
  );
  t.same(out, { 'accept-encoding': 'identity', authorization: 'Bearer sk-channel', 'x-request-id': 'req-1' });
});

t.test('array values are joined and extra headers are set last', async (t) => {
  const out = upstreamRequestHeaders(
    { 'x-multi': ['a', 'b'] },
    { ...opts, extra: { 'X-Api-Version': '2024-10-01', authorization: 'Bearer override' } },
  );
  t.equal(out['x-multi'], 'a, b');
  t.equal(out['x-api-version'], '2024-10-01');
  t.equal(out.authorization, 'Bearer override');
});

t.test('client response keeps openai and rate-limit headers, drops framing and encoding', async (t) => {
  const out = clientResponseHeaders({
    'content-type': 'text/event-stream',
    'content-length': '100',
    'content-encoding': 'gzip',
    'transfer-encoding': 'chunked',
    connection: 'keep-alive, x-hop',
    'keep-alive': 'timeout=5',
    'x-hop': '1',
    'openai-processing-ms': '12',
    'x-ratelimit-remaining-requests': '99',
    'set-cookie': ['__cf_bm=1'],
    vary: ['Origin', 'Accept'],
    missing: undefined,
  });
  t.same(out, {
    'content-type': 'text/event-stream',
    'openai-processing-ms': '12',
    'x-ratelimit-remaining-requests': '99',
    vary: ['Origin', 'Accept'],
  });
});

t.test("the upstream's request id is kept under another name so the gateway's own id stands", async (t) => {
  const out = clientResponseHeaders({ 'x-request-id': 'req_upstream' });
  t.same(out, { 'x-upstream-request-id': 'req_upstream' });
});

t.test('headers named in Connection are dropped on every request, also when the same value comes again', async (t) => {
  for (let i = 0; i < 3; i++) {
    const req = upstreamRequestHeaders({ connection: 'X-Hop, keep-alive', 'x-hop': '1', 'x-kept': '2' }, opts);
    t.notOk('x-hop' in req, `request ${i}`);
    t.equal(req['x-kept'], '2');
    const res = clientResponseHeaders({ connection: 'X-Hop, keep-alive', 'x-hop': '1', 'x-kept': '2' });
    t.same(res, { 'x-kept': '2' }, `response ${i}`);
  }
  t.same(clientResponseHeaders({ Connection: ['close', 'x-a'], 'x-a': '1', 'x-b': '2' }), { 'x-b': '2' }, 'an array value');
});

t.test('client response headers fill a given object without overwriting what it holds', async (t) => {
  const own = { 'x-request-id': 'gateway-id', 'content-type': 'text/plain' };
  const out = clientResponseHeaders({ 'content-type': 'text/event-stream', 'x-request-id': 'up', 'openai-model': 'm' }, own);
  t.equal(out, own, 'the same object');
  t.same(out, { 'x-request-id': 'gateway-id', 'content-type': 'text/plain', 'x-upstream-request-id': 'up', 'openai-model': 'm' });
});

t.test('a header named like an Object.prototype member is an ordinary header', async (t) => {
  const out = clientResponseHeaders({ constructor: 'x', tostring: 'y' } as Record<string, string>);
  t.equal(out.constructor, 'x');
  t.equal(out.tostring, 'y');
});
