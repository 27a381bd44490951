// Every HTTP route the console calls, in one table. The client (api.ts) only ever calls through it, and
// test/web/openapi.test.ts checks each entry against the gateway's own OpenAPI spec (/docs/json), so a route
// renamed on the server fails a test instead of a page. Path parameters are written OpenAPI-style: {name}.
// Pure data: no DOM, so the node test can import it.

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

export interface Endpoint {
  readonly method: Method
  readonly path: string
}

const route = (method: Method, path: string): Endpoint => ({ method, path })

export const endpoints = {
  register: route('POST', '/api/auth/register'),
  login: route('POST', '/api/auth/login'),
  logout: route('POST', '/api/auth/logout'),

  self: route('GET', '/api/user/self'),
  updateSelf: route('PATCH', '/api/user/self'),
  changePassword: route('PUT', '/api/user/self/password'),
  redeem: route('POST', '/api/user/self/redeem'),

  stat: route('GET', '/api/log/stat'),
  ownLog: route('GET', '/api/log/self'),
  allLog: route('GET', '/api/log'),

  tokens: route('GET', '/api/token'),
  createToken: route('POST', '/api/token'),
  updateToken: route('PATCH', '/api/token/{id}'),
  deleteToken: route('DELETE', '/api/token/{id}'),

  personalApis: route('GET', '/api/user/self/apis'),
  createPersonalApi: route('POST', '/api/user/self/apis'),
  updatePersonalApi: route('PATCH', '/api/user/self/apis/{id}'),
  deletePersonalApi: route('DELETE', '/api/user/self/apis/{id}'),
  testPersonalApi: route('POST', '/api/user/self/apis/{id}/test'),

  conversations: route('GET', '/api/conversations'),
  updateConversation: route('PATCH', '/api/conversations/{id}'),
  deleteConversation: route('DELETE', '/api/conversations/{id}'),
  messages: route('GET', '/api/conversations/{id}/messages'),
  chatModels: route('GET', '/api/models'),

  channels: route('GET', '/api/channel'),
  createChannel: route('POST', '/api/channel'),
  updateChannel: route('PATCH', '/api/channel/{id}'),
  deleteChannel: route('DELETE', '/api/channel/{id}'),
  testChannel: route('POST', '/api/channel/{id}/test'),

  users: route('GET', '/api/user'),
  updateUser: route('PATCH', '/api/user/{id}'),
  adjustQuota: route('POST', '/api/user/{id}/quota'),

  prices: route('GET', '/api/pricing'),
  price: route('GET', '/api/pricing/{model}'),
  setPrice: route('PUT', '/api/pricing/{model}'),
  deletePrice: route('DELETE', '/api/pricing/{model}'),

  codes: route('GET', '/api/redemption'),
  createCodes: route('POST', '/api/redemption'),
  deleteCode: route('DELETE', '/api/redemption/{id}'),
} as const satisfies Record<string, Endpoint>

export type EndpointName = keyof typeof endpoints

/** The chat WebSocket (CONTRACT §8): not in the OpenAPI spec, so the browser test exercises it instead. */
export const CHAT_SOCKET_PATH = '/ws/chat'
