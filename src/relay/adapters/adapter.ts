// A provider adapter describes how to reach one kind of upstream, so the relay itself never branches on provider.
// Adding a provider is adding a file beside openai.ts and listing it in index.ts.

export interface ChannelAdapter {
  /** The channel `type` this adapter serves, as stored on the channel. */
  type: string;
  /** Used when a channel of this type has no `base_url`. */
  defaultBaseUrl: string;
  /** The upstream URL for a relay request path such as `/v1/chat/completions?x=1`. */
  url(baseUrl: string, path: string): string;
  /** The headers that carry the channel's key. */
  authHeaders(key: string): Record<string, string>;
  /** Rewrites a JSON request body for a provider that is not wire-compatible; absent when bodies pass unchanged. */
  transformRequestBody?(body: Record<string, unknown>): Record<string, unknown>;
}
