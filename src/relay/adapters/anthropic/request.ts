// A canonical request (OpenAI chat completions) as an Anthropic Messages API body.
//
//   system / developer messages  → `system` text blocks (in order)
//   user / assistant / tool      → alternating user / assistant turns; tool results are `tool_result` blocks of a
//                                  user turn, assistant `tool_calls` are `tool_use` blocks (ids kept)
//   image_url (data: or http)    → image blocks (base64 or url source); a PDF `file` → a document block
//   max_tokens / max_completion_tokens → max_tokens (required by Anthropic: DEFAULT_COMPLETION_RESERVE otherwise)
//   stop → stop_sequences, tools → tools (input_schema), tool_choice auto/none/required/function → auto/none/any/tool,
//   parallel_tool_calls: false → disable_parallel_tool_use, reasoning_effort → thinking with a token budget,
//   response_format json_schema → output_config.format, user → metadata.user_id
//
// Fields Anthropic has no way to express are refused (400 unsupported_parameter) unless they ask for nothing
// (a default value) or OpenAI itself treats them as a hint (seed, store, service_tier, metadata).
import type { ConversionContext } from '../adapter.js'
import { invalid, isObject, parseArguments, parseDataUrl, str, unsupported, type Json } from '../../formats/shared.js'

const TARGET = 'anthropic'

/** Thinking budgets for OpenAI's reasoning_effort, as LiteLLM maps them. */
const THINKING_BUDGET: Record<string, number> = { minimal: 1024, low: 1024, medium: 2048, high: 4096, xhigh: 8192 }
/** Anthropic's smallest thinking budget. */
const MIN_THINKING_BUDGET = 1024

type Block = Json
interface Turn {
  role: 'user' | 'assistant'
  content: Block[]
}

/** What each top-level OpenAI field becomes; a field not listed here is refused. */
const HANDLED = new Set([
  'model', 'messages', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'top_k', 'stop', 'stream',
  'stream_options', 'tools', 'tool_choice', 'parallel_tool_calls', 'reasoning_effort', 'thinking', 'user',
  'response_format', 'n', 'presence_penalty', 'frequency_penalty', 'logit_bias', 'logprobs', 'top_logprobs',
  'modalities', 'seed', 'store', 'service_tier', 'metadata', 'prompt_cache_key', 'safety_identifier',
])

/** Accepted when absent or at a value that asks for nothing. */
const NEUTRAL: Record<string, (value: unknown) => boolean> = {
  n: (v) => v === 1,
  presence_penalty: (v) => v === 0,
  frequency_penalty: (v) => v === 0,
  logit_bias: (v) => isObject(v) && Object.keys(v).length === 0,
  logprobs: (v) => v === false,
  top_logprobs: (v) => v === 0,
  modalities: (v) => Array.isArray(v) && v.every((m) => m === 'text'),
}

export function toAnthropicRequest(canonical: Json, ctx: ConversionContext): Json {
  for (const field of Object.keys(canonical)) {
    const value = canonical[field]
    if (value === undefined || value === null) continue
    if (!HANDLED.has(field)) throw unsupported(field, TARGET)
    const neutral = NEUTRAL[field]
    if (neutral && !neutral(value)) throw unsupported(field, TARGET)
  }
  const { system, turns } = convertMessages(canonical.messages)
  const body: Json = { model: ctx.model, messages: turns }
  if (system.length > 0) body.system = system
  const maxTokens = canonical.max_completion_tokens ?? canonical.max_tokens
  body.max_tokens = typeof maxTokens === 'number' ? maxTokens : ctx.defaultMaxTokens
  for (const field of ['temperature', 'top_p', 'top_k'] as const) {
    if (canonical[field] !== undefined && canonical[field] !== null) body[field] = canonical[field]
  }
  const stop = canonical.stop
  if (typeof stop === 'string') body.stop_sequences = [stop]
  else if (Array.isArray(stop) && stop.length > 0) body.stop_sequences = stop
  else if (stop !== undefined && stop !== null && !Array.isArray(stop)) throw invalid('stop', 'a string or an array of strings')
  if (canonical.stream === true) body.stream = true
  addTools(body, canonical)
  addThinking(body, canonical)
  addResponseFormat(body, canonical.response_format)
  if (typeof canonical.user === 'string' && canonical.user) body.metadata = { user_id: canonical.user }
  return body
}

function convertMessages(messages: unknown): { system: Block[]; turns: Turn[] } {
  if (!Array.isArray(messages)) throw invalid('messages', 'an array of message objects')
  const system: Block[] = []
  const turns: Turn[] = []
  const push = (role: Turn['role'], content: Block[]): void => {
    if (content.length === 0) return
    const last = turns[turns.length - 1]
    // Anthropic wants user and assistant turns alternating; same-role neighbours (a tool result and the user's
    // next words) become one turn.
    if (last && last.role === role) last.content.push(...content)
    else turns.push({ role, content })
  }
  messages.forEach((message: unknown, i) => {
    const param = `messages[${i}]`
    if (!isObject(message)) throw invalid(param, 'a message object')
    switch (message.role) {
      case 'system':
      case 'developer':
        system.push(...textBlocks(message.content, `${param}.content`))
        break
      case 'user':
        push('user', userBlocks(message.content, `${param}.content`))
        break
      case 'assistant':
        push('assistant', assistantBlocks(message, param))
        break
      case 'tool':
        push('user', [toolResult(message, param)])
        break
      case 'function':
        throw unsupported(`${param}.role`, TARGET, "the legacy 'function' role; use tools")
      default:
        throw invalid(`${param}.role`, "'system', 'developer', 'user', 'assistant' or 'tool'")
    }
  })
  return { system, turns }
}

/** Text-only content (system prompts, tool results): a string or text parts. */
function textBlocks(content: unknown, param: string): Block[] {
  if (typeof content === 'string') return content ? [{ type: 'text', text: content }] : []
  if (!Array.isArray(content)) throw invalid(param, 'a string or an array of content parts')
  const blocks: Block[] = []
  content.forEach((part: unknown, j) => {
    if (!isObject(part) || part.type !== 'text' || typeof part.text !== 'string') {
      throw unsupported(`${param}[${j}]`, TARGET, 'only text parts are allowed here')
    }
    if (part.text) blocks.push(withCache({ type: 'text', text: part.text }, part))
  })
  return blocks
}

function userBlocks(content: unknown, param: string): Block[] {
  if (typeof content === 'string') return content ? [{ type: 'text', text: content }] : []
  if (!Array.isArray(content)) throw invalid(param, 'a string or an array of content parts')
  const blocks: Block[] = []
  content.forEach((part: unknown, j) => {
    const at = `${param}[${j}]`
    if (!isObject(part)) throw invalid(at, 'a content part object')
    if (part.type === 'text') {
      if (typeof part.text !== 'string') throw invalid(`${at}.text`, 'a string')
      if (part.text) blocks.push(withCache({ type: 'text', text: part.text }, part))
    } else if (part.type === 'image_url') {
      blocks.push(withCache(imageBlock(part.image_url, `${at}.image_url`), part))
    } else if (part.type === 'file') {
      blocks.push(documentBlock(part.file, `${at}.file`))
    } else {
      throw unsupported(`${at}.type`, TARGET, `content parts of type '${String(part.type)}'`)
    }
  })
  return blocks
}

function imageBlock(image: unknown, param: string): Block {
  const url = isObject(image) ? str(image.url) : str(image)
  if (!url) throw invalid(param, 'an object with a url')
  const inline = parseDataUrl(url)
  if (inline) return { type: 'image', source: { type: 'base64', media_type: inline.mediaType, data: inline.data } }
  if (!/^https?:\/\//i.test(url)) throw invalid(`${param}.url`, 'an http(s) URL or a base64 data: URL')
  return { type: 'image', source: { type: 'url', url } }
}

function documentBlock(file: unknown, param: string): Block {
  const data = isObject(file) ? str(file.file_data) : undefined
  const inline = data ? parseDataUrl(data) : null
  if (!inline || inline.mediaType !== 'application/pdf') {
    throw unsupported(param, TARGET, 'only PDF files given inline as file_data (a base64 data: URL)')
  }
  return { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: inline.data } }
}

/** `cache_control` on an OpenAI part (as some clients send it for Anthropic models) stays on the block. */
function withCache(block: Block, part: Json): Block {
  if (isObject(part.cache_control)) block.cache_control = part.cache_control
  return block
}

function assistantBlocks(message: Json, param: string): Block[] {
  const blocks: Block[] = []
  const content = message.content
  if (typeof content === 'string') {
    if (content) blocks.push({ type: 'text', text: content })
  } else if (Array.isArray(content)) {
    content.forEach((part: unknown, j) => {
      const text = isObject(part) && (part.type === 'text' || part.type === 'refusal') ? str(part.text) ?? str(part.refusal) : undefined
      if (text === undefined) throw unsupported(`${param}.content[${j}]`, TARGET, 'assistant content other than text')
      if (text) blocks.push({ type: 'text', text })
    })
  } else if (content !== undefined && content !== null) {
    throw invalid(`${param}.content`, 'a string, an array of text parts or null')
  }
  // Earlier reasoning (`reasoning_content`) is not sent back: Anthropic ignores thinking from earlier turns, and
  // a thinking block without its signature would be refused.
  const calls = message.tool_calls
  if (calls !== undefined && calls !== null) {
    if (!Array.isArray(calls)) throw invalid(`${param}.tool_calls`, 'an array')
    calls.forEach((call: unknown, k) => {
      const at = `${param}.tool_calls[${k}]`
      if (!isObject(call) || !isObject(call.function) || typeof call.id !== 'string' || typeof call.function.name !== 'string') {
        throw invalid(at, 'a function tool call with an id and a name')
      }
      blocks.push({ type: 'tool_use', id: call.id, name: call.function.name, input: parseArguments(call.function.arguments, `${at}.function.arguments`) })
    })
  }
  return blocks
}

function toolResult(message: Json, param: string): Block {
  if (typeof message.tool_call_id !== 'string' || !message.tool_call_id) throw invalid(`${param}.tool_call_id`, 'the id of the tool call it answers')
  const content = message.content
  const block: Block = { type: 'tool_result', tool_use_id: message.tool_call_id }
  if (typeof content === 'string') block.content = content
  else if (content !== undefined && content !== null) block.content = textBlocks(content, `${param}.content`)
  return block
}

function addTools(body: Json, canonical: Json): void {
  const tools = canonical.tools
  if (tools !== undefined && tools !== null) {
    if (!Array.isArray(tools)) throw invalid('tools', 'an array')
    body.tools = tools.map((tool: unknown, i) => {
      if (!isObject(tool) || tool.type !== 'function' || !isObject(tool.function) || typeof tool.function.name !== 'string') {
        throw unsupported(`tools[${i}]`, TARGET, 'only function tools')
      }
      const fn = tool.function
      const out: Json = { name: fn.name, input_schema: isObject(fn.parameters) ? fn.parameters : { type: 'object', properties: {} } }
      if (typeof fn.description === 'string') out.description = fn.description
      return out
    })
  }
  const choice = toolChoice(canonical.tool_choice)
  if (canonical.parallel_tool_calls === false && (!choice || choice.type !== 'none') && Array.isArray(tools) && tools.length > 0) {
    body.tool_choice = { ...(choice ?? { type: 'auto' }), disable_parallel_tool_use: true }
  } else if (choice && (Array.isArray(tools) && tools.length > 0)) {
    body.tool_choice = choice
  }
}

function toolChoice(choice: unknown): Json | null {
  if (choice === undefined || choice === null) return null
  if (choice === 'auto') return { type: 'auto' }
  if (choice === 'none') return { type: 'none' }
  if (choice === 'required') return { type: 'any' }
  if (isObject(choice) && choice.type === 'function' && isObject(choice.function) && typeof choice.function.name === 'string') {
    return { type: 'tool', name: choice.function.name }
  }
  throw unsupported('tool_choice', TARGET, "only 'auto', 'none', 'required' or a named function")
}

function addThinking(body: Json, canonical: Json): void {
  // An Anthropic-style `thinking` object some clients send through OpenAI SDKs is Anthropic's own: kept.
  if (isObject(canonical.thinking)) {
    body.thinking = canonical.thinking
    return
  }
  const effort = canonical.reasoning_effort
  if (effort === undefined || effort === null || effort === 'none') return
  const budget = typeof effort === 'string' ? THINKING_BUDGET[effort] : undefined
  if (budget === undefined) throw invalid('reasoning_effort', "'none', 'minimal', 'low', 'medium', 'high' or 'xhigh'")
  const maxTokens = body.max_tokens as number
  // Anthropic counts thinking inside max_tokens and wants room for the answer beside it.
  if (maxTokens <= budget) body.max_tokens = budget + Math.max(maxTokens, MIN_THINKING_BUDGET)
  body.thinking = { type: 'enabled', budget_tokens: budget }
}

function addResponseFormat(body: Json, format: unknown): void {
  if (format === undefined || format === null) return
  if (!isObject(format)) throw invalid('response_format', 'an object')
  if (format.type === 'text') return
  if (format.type === 'json_schema' && isObject(format.json_schema) && isObject(format.json_schema.schema)) {
    body.output_config = { format: { type: 'json_schema', schema: format.json_schema.schema } }
    return
  }
  throw unsupported('response_format', TARGET, "only 'text' and 'json_schema'")
}
