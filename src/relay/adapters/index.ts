import type { ChannelAdapter } from './adapter.js';
import { openaiAdapter } from './openai.js';

export type { ChannelAdapter } from './adapter.js';

const adapters: ReadonlyMap<string, ChannelAdapter> = new Map(
  [openaiAdapter].map((adapter) => [adapter.type, adapter]),
);

/** Every channel `type` the gateway can relay to. */
export const channelTypes: string[] = [...adapters.keys()];

export function getAdapter(type: string): ChannelAdapter | undefined {
  return adapters.get(type);
}
