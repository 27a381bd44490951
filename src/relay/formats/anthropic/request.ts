// An Anthropic Messages request (a `/v1/messages` client) as a canonical OpenAI chat request, for channels that do
// not speak Anthropic's format (OpenAI-compatible, Azure, Gemini: the Gemini adapter converts the canonical
// request further).
//
//   system (string or text blocks), role "system" messages → system messages
//   user text / image (base64 → data: URL, url) / PDF document → content parts
//   tool_result blocks                → `tool` messages (before the user's other content; images in a result
//                                       follow as a user message, since tool messages carry text only)
//   assistant text / tool_use         → content / tool_calls (ids kept); thinking blocks are not sent back
//   max_tokens, temperature, top_p, stop_sequences, stream, tools, tool_choice (auto/any/tool/none,
//   disable_parallel_tool_use), metadata.user_id, thinking / output_config.effort → reasoning_effort,
//   output_config.format → response_format
//
// `top_k` has no OpenAI equivalent (Gemini takes it); server tools, MCP servers and containers have none anywhere:
// 400 unsupported_parameter. cache_control, service_tier and similar hints are dropped: the target caches on its own.
import type { WireFormat } from '../../adapters/adapter.js'
import { invalid, isObject, str, unsupported, type Json } from '../shared.js'

const HANDLED = new Set([
  'model', 'messages', 'system', 'max_tokens', 'temperature', 'top_p', 'top_k', 'stop_sequences', 'stream', 'tools',
  'tool_choice', 'thinking', 'metadata', 'output_config',
  // hints the target has no use for
  'cache_control', 'service_tier', 'inference_geo', 'speed', 'diagnostics',
])

/** reasoning_effort for a thinking budget (OpenAI knows only levels). */
function effortOfBudget(budget: number): string {
  if (budget <= 2048) return 'low'
  if (budget <= 16384) return 'medium'
  return 'high'
}

export function anthropicToCanonical(body: Json, target: WireFormat): Json {
  for (const field of Object.keys(body)) {
    if (body[field] === undefined || body[field] === null) continue
    if (!HANDLED.has(field)) throw unsupported(field, target)
  }
  const canonical: Json = { model: body.model, messages: convertMessages(body) }
  if (typeof body.max_tokens === 'number') canonical.max_tokens = body.max_tokens
  for (const field of ['temperature', 'top_p'] as const) {
    if (body[field] !== undefined && body[field] !== null) canonical[field] = body[field]
  }
  if (body.top_k !== undefined && body.top_k !== null) {
    if (target !== 'gemini') throw unsupported('top_k', target)
    canonical.top_k = body.top_k
  }
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length > 0) canonical.stop = body.stop_sequences
  if (body.stream === true) {
    canonical.stream = true
    // The answer's usage is needed for message_delta (and billing) whatever the client asked.
    canonical.stream_options = { include_usage: true }
  }
  addTools(canonical, body, target)
  addReasoning(canonical, body)
  if (isObject(body.metadata) && typeof body.metadata.user_id === 'string') canonical.user = body.metadata.user_id
  return canonical
}

function convertMessages(body: Json): Json[] {
  const out: Json[] = []
  const system = body.system
  if (typeof system === 'string') {
    if (system) out.push({ role: 'system', content: system })
  } else if (Array.isArray(system)) {
    const text = textOf(system, 'system')
    if (text) out.push({ role: 'system', content: text })
  } else if (system !== undefined && system !== null) {
    throw invalid('system', 'a string or an array of text blocks')
  }
  const messages = body.messages
  if (!Array.isArray(messages)) throw invalid('messages', 'an array of message objects')
  messages.forEach((message: unknown, i) => {
    const param = `messages[${i}]`
    if (!isObject(message)) throw invalid(param, 'a message object')
    if (message.role === 'system') out.push({ role: 'system', content: textOf(message.content, `${param}.content`) })
    else if (message.role === 'user') out.push(...userMessages(message.content, `${param}.content`))
    else if (message.role === 'assistant') out.push(assistantMessage(message.content, `${param}.content`))
    else throw invalid(`${param}.role`, "'user', 'assistant' or 'system'")
  })
  return out
}

/** Text blocks (or a string) as one string. */
function textOf(content: unknown, param: string): string {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) throw invalid(param, 'a string or an array of text blocks')
  return content
    .map((block: unknown, j) => {
      if (!isObject(block) || block.type !== 'text' || typeof block.text !== 'string') {
        throw unsupported(`${param}[${j}]`, 'non-Anthropic', 'only text blocks are allowed here')
      }
      return block.text
    })
    .join('\n')
}

/** One user turn: its tool results as `tool` messages first (OpenAI wants them right after the calls), then the rest. */
function userMessages(content: unknown, param: string): Json[] {
  if (typeof content === 'string') return [{ role: 'user', content }]
  if (!Array.isArray(content)) throw invalid(param, 'a string or an array of content blocks')
  const tools: Json[] = []
  const parts: Json[] = []
  const resultImages: Json[] = []
  content.forEach((block: unknown, j) => {
    const at = `${param}[${j}]`
    if (!isObject(block)) throw invalid(at, 'a content block object')
    if (block.type === 'tool_result') {
      if (typeof block.tool_use_id !== 'string') throw invalid(`${at}.tool_use_id`, 'a string')
      tools.push({ role: 'tool', tool_call_id: block.tool_use_id, content: toolResultText(block.content, `${at}.content`, resultImages) })
    } else {
      parts.push(userPart(block, at))
    }
  })
  const out = [...tools]
  if (resultImages.length > 0) out.push({ role: 'user', content: resultImages })
  if (parts.length > 0) out.push({ role: 'user', content: parts.length === 1 && parts[0]?.type === 'text' ? parts[0].text : parts })
  return out
}

function toolResultText(content: unknown, param: string, images: Json[]): string {
  if (content === undefined || content === null) return ''
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) throw invalid(param, 'a string or an array of content blocks')
  const texts: string[] = []
  content.forEach((block: unknown, j) => {
    if (isObject(block) && block.type === 'text' && typeof block.text === 'string') texts.push(block.text)
    else if (isObject(block) && block.type === 'image') images.push(imagePart(block, `${param}[${j}]`))
    else throw unsupported(`${param}[${j}]`, 'non-Anthropic', 'tool results may hold text and images only')
  })
  return texts.join('\n')
}

function userPart(block: Json, at: string): Json {
  switch (block.type) {
    case 'text':
      if (typeof block.text !== 'string') throw invalid(`${at}.text`, 'a string')
      return { type: 'text', text: block.text }
    case 'image':
      return imagePart(block, at)
    case 'document': {
      const source = isObject(block.source) ? block.source : {}
      if (source.type === 'base64' && source.media_type === 'application/pdf' && typeof source.data === 'string') {
        return { type: 'file', file: { filename: str(block.title) ?? 'document.pdf', file_data: `data:application/pdf;base64,${source.data}` } }
      }
      if (source.type === 'text' && typeof source.data === 'string') return { type: 'text', text: source.data }
      throw unsupported(`${at}.source`, 'non-Anthropic', 'documents other than base64 PDFs and plain text')
    }
    default:
      throw unsupported(`${at}.type`, 'non-Anthropic', `content blocks of type '${String(block.type)}'`)
  }
}

function imagePart(block: Json, at: string): Json {
  const source = isObject(block.source) ? block.source : {}
  if (source.type === 'base64' && typeof source.media_type === 'string' && typeof source.data === 'string') {
    return { type: 'image_url', image_url: { url: `data:${source.media_type};base64,${source.data}` } }
  }
  if (source.type === 'url' && typeof source.url === 'string') return { type: 'image_url', image_url: { url: source.url } }
  throw unsupported(`${at}.source`, 'non-Anthropic', 'images other than base64 and url sources')
}

function assistantMessage(content: unknown, param: string): Json {
  if (typeof content === 'string') return { role: 'assistant', content }
  if (!Array.isArray(content)) throw invalid(param, 'a string or an array of content blocks')
  let text = ''
  const calls: Json[] = []
  content.forEach((block: unknown, j) => {
    const at = `${param}[${j}]`
    if (!isObject(block)) throw invalid(at, 'a content block object')
    if (block.type === 'text' && typeof block.text === 'string') text += block.text
    else if (block.type === 'tool_use') {
      if (typeof block.id !== 'string' || typeof block.name !== 'string') throw invalid(at, 'a tool_use block with an id and a name')
      calls.push({ id: block.id, type: 'function', function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) } })
    } else if (block.type !== 'thinking' && block.type !== 'redacted_thinking') {
      // Earlier thinking is not sent back (its signature means nothing elsewhere); anything else has no equivalent.
      throw unsupported(`${at}.type`, 'non-Anthropic', `content blocks of type '${String(block.type)}'`)
    }
  })
  const message: Json = { role: 'assistant', content: text || (calls.length > 0 ? null : '') }
  if (calls.length > 0) message.tool_calls = calls
  return message
}

function addTools(canonical: Json, body: Json, target: WireFormat): void {
  const tools = body.tools
  if (tools !== undefined && tools !== null) {
    if (!Array.isArray(tools)) throw invalid('tools', 'an array')
    canonical.tools = tools.map((tool: unknown, i) => {
      if (!isObject(tool) || typeof tool.name !== 'string' || (tool.type !== undefined && tool.type !== null && tool.type !== 'custom')) {
        throw unsupported(`tools[${i}]`, target, "only custom tools (Anthropic's server tools run only on Anthropic)")
      }
      const fn: Json = { name: tool.name, parameters: isObject(tool.input_schema) ? tool.input_schema : { type: 'object', properties: {} } }
      if (typeof tool.description === 'string') fn.description = tool.description
      return { type: 'function', function: fn }
    })
  }
  const choice = body.tool_choice
  if (choice === undefined || choice === null) return
  if (!isObject(choice)) throw invalid('tool_choice', 'an object')
  if (choice.type === 'auto') canonical.tool_choice = 'auto'
  else if (choice.type === 'any') canonical.tool_choice = 'required'
  else if (choice.type === 'none') canonical.tool_choice = 'none'
  else if (choice.type === 'tool' && typeof choice.name === 'string') canonical.tool_choice = { type: 'function', function: { name: choice.name } }
  else throw invalid('tool_choice.type', "'auto', 'any', 'tool' or 'none'")
  if (choice.disable_parallel_tool_use === true) canonical.parallel_tool_calls = false
}

function addReasoning(canonical: Json, body: Json): void {
  const thinking = body.thinking
  const config = isObject(body.output_config) ? body.output_config : {}
  let effort: string | undefined
  if (isObject(thinking) && thinking.type === 'enabled') effort = effortOfBudget(typeof thinking.budget_tokens === 'number' ? thinking.budget_tokens : 0)
  else if (isObject(thinking) && thinking.type === 'adaptive') effort = 'medium'
  if (effort && typeof config.effort === 'string') effort = config.effort === 'low' || config.effort === 'medium' ? config.effort : 'high'
  if (effort) canonical.reasoning_effort = effort
  const format = config.format
  if (isObject(format)) {
    if (format.type !== 'json_schema' || !isObject(format.schema)) throw invalid('output_config.format', "a 'json_schema' format with a schema")
    canonical.response_format = { type: 'json_schema', json_schema: { name: 'output', schema: format.schema, strict: true } }
  }
}
