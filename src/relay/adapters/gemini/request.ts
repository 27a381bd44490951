// A canonical request (OpenAI chat completions) as a Gemini `generateContent` body.
//
//   system / developer messages → systemInstruction parts
//   user / assistant / tool     → `user` / `model` contents; assistant tool_calls → functionCall parts (the thought
//                                 signature a converted answer put in the call's id goes back on the part);
//                                 tool messages → functionResponse parts named after the call they answer
//   image_url                   → inlineData (data: URL) or fileData (http URL); input_audio and inline files → inlineData
//   max_tokens, temperature, top_p, top_k, stop, n, penalties, seed → generationConfig
//   response_format json_object / json_schema → responseMimeType (+ responseJsonSchema)
//   reasoning_effort → thinkingConfig (a budget, thoughts included so they come back as reasoning_content)
//   tools → functionDeclarations (JSON Schema as parametersJsonSchema), tool_choice → functionCallingConfig
//
// Fields Gemini cannot express are refused (400 unsupported_parameter) unless they ask for nothing or OpenAI itself
// treats them as a hint (user, store, service_tier, metadata). The model is in the URL, the stream flag too.
import type { ConversionContext } from '../adapter.js'
import { invalid, isObject, mediaTypeOfUrl, parseArguments, parseDataUrl, str, unsupported, type Json } from '../../formats/shared.js'
import { signatureOfToolCallId } from './tool-ids.js'

const TARGET = 'gemini'

/** Thinking budgets for OpenAI's reasoning_effort ('none' turns thinking off). */
const THINKING_BUDGET: Record<string, number> = { none: 0, minimal: 512, low: 1024, medium: 8192, high: 24576, xhigh: 32768 }

/**
 * Gemini 3 refuses a model turn whose function calls carry no thought signature; for calls that never had one
 * (a conversation begun elsewhere), Google documents this value as the way to skip the check.
 */
export const SKIP_SIGNATURE = 'skip_thought_signature_validator'

const HANDLED = new Set([
  'model', 'messages', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'top_k', 'stop', 'stream',
  'stream_options', 'n', 'presence_penalty', 'frequency_penalty', 'seed', 'response_format', 'reasoning_effort',
  'tools', 'tool_choice', 'parallel_tool_calls', 'user', 'store', 'service_tier', 'metadata', 'modalities',
  'logit_bias', 'logprobs', 'top_logprobs', 'prompt_cache_key', 'safety_identifier',
])

const NEUTRAL: Record<string, (value: unknown) => boolean> = {
  parallel_tool_calls: (v) => v === true,
  logit_bias: (v) => isObject(v) && Object.keys(v).length === 0,
  logprobs: (v) => v === false,
  top_logprobs: (v) => v === 0,
  modalities: (v) => Array.isArray(v) && v.every((m) => m === 'text'),
}

type Part = Json
interface Content {
  role: 'user' | 'model'
  parts: Part[]
}

export function toGeminiRequest(canonical: Json, _ctx: ConversionContext): Json {
  for (const field of Object.keys(canonical)) {
    const value = canonical[field]
    if (value === undefined || value === null) continue
    if (!HANDLED.has(field)) throw unsupported(field, TARGET)
    const neutral = NEUTRAL[field]
    if (neutral && !neutral(value)) throw unsupported(field, TARGET)
  }
  const { system, contents } = convertMessages(canonical.messages)
  const body: Json = { contents }
  if (system.length > 0) body.systemInstruction = { parts: system }
  const config = generationConfig(canonical)
  if (Object.keys(config).length > 0) body.generationConfig = config
  addTools(body, canonical)
  return body
}

function convertMessages(messages: unknown): { system: Part[]; contents: Content[] } {
  if (!Array.isArray(messages)) throw invalid('messages', 'an array of message objects')
  const system: Part[] = []
  const contents: Content[] = []
  /** Tool call id → function name: a functionResponse must name the function, a tool message names only the id. */
  const callNames = new Map<string, string>()
  const push = (role: Content['role'], parts: Part[]): void => {
    if (parts.length === 0) return
    const last = contents[contents.length - 1]
    if (last && last.role === role) last.parts.push(...parts)
    else contents.push({ role, parts })
  }
  messages.forEach((message: unknown, i) => {
    const param = `messages[${i}]`
    if (!isObject(message)) throw invalid(param, 'a message object')
    switch (message.role) {
      case 'system':
      case 'developer':
        system.push(...textParts(message.content, `${param}.content`))
        break
      case 'user':
        push('user', userParts(message.content, `${param}.content`))
        break
      case 'assistant':
        push('model', modelParts(message, param, callNames))
        break
      case 'tool':
        push('user', [functionResponse(message, param, callNames)])
        break
      case 'function':
        throw unsupported(`${param}.role`, TARGET, "the legacy 'function' role; use tools")
      default:
        throw invalid(`${param}.role`, "'system', 'developer', 'user', 'assistant' or 'tool'")
    }
  })
  return { system, contents }
}

function textParts(content: unknown, param: string): Part[] {
  if (typeof content === 'string') return content ? [{ text: content }] : []
  if (!Array.isArray(content)) throw invalid(param, 'a string or an array of content parts')
  return content.flatMap((part: unknown, j) => {
    if (!isObject(part) || part.type !== 'text' || typeof part.text !== 'string') {
      throw unsupported(`${param}[${j}]`, TARGET, 'only text parts are allowed here')
    }
    return part.text ? [{ text: part.text }] : []
  })
}

function userParts(content: unknown, param: string): Part[] {
  if (typeof content === 'string') return content ? [{ text: content }] : []
  if (!Array.isArray(content)) throw invalid(param, 'a string or an array of content parts')
  return content.flatMap((part: unknown, j): Part[] => {
    const at = `${param}[${j}]`
    if (!isObject(part)) throw invalid(at, 'a content part object')
    switch (part.type) {
      case 'text':
        if (typeof part.text !== 'string') throw invalid(`${at}.text`, 'a string')
        return part.text ? [{ text: part.text }] : []
      case 'image_url':
        return [imagePart(part.image_url, `${at}.image_url`)]
      case 'input_audio': {
        const audio = isObject(part.input_audio) ? part.input_audio : {}
        if (typeof audio.data !== 'string' || typeof audio.format !== 'string') throw invalid(`${at}.input_audio`, 'an object with data and format')
        return [{ inlineData: { mimeType: `audio/${audio.format}`, data: audio.data } }]
      }
      case 'file': {
        const data = isObject(part.file) ? str(part.file.file_data) : undefined
        const inline = data ? parseDataUrl(data) : null
        if (!inline) throw unsupported(`${at}.file`, TARGET, 'only files given inline as file_data (a base64 data: URL)')
        return [{ inlineData: { mimeType: inline.mediaType, data: inline.data } }]
      }
      default:
        throw unsupported(`${at}.type`, TARGET, `content parts of type '${String(part.type)}'`)
    }
  })
}

function imagePart(image: unknown, param: string): Part {
  const url = isObject(image) ? str(image.url) : str(image)
  if (!url) throw invalid(param, 'an object with a url')
  const inline = parseDataUrl(url)
  if (inline) return { inlineData: { mimeType: inline.mediaType, data: inline.data } }
  if (!/^https?:\/\//i.test(url)) throw invalid(`${param}.url`, 'an http(s) URL or a base64 data: URL')
  // Gemini fetches public http(s) URLs itself; the gateway never does.
  return { fileData: { mimeType: mediaTypeOfUrl(url), fileUri: url } }
}

function modelParts(message: Json, param: string, callNames: Map<string, string>): Part[] {
  const parts: Part[] = []
  const content = message.content
  if (typeof content === 'string') {
    if (content) parts.push({ text: content })
  } else if (Array.isArray(content)) {
    content.forEach((part: unknown, j) => {
      const text = isObject(part) && (part.type === 'text' || part.type === 'refusal') ? str(part.text) ?? str(part.refusal) : undefined
      if (text === undefined) throw unsupported(`${param}.content[${j}]`, TARGET, 'assistant content other than text')
      if (text) parts.push({ text })
    })
  } else if (content !== undefined && content !== null) {
    throw invalid(`${param}.content`, 'a string, an array of text parts or null')
  }
  const calls = message.tool_calls
  if (calls === undefined || calls === null) return parts
  if (!Array.isArray(calls)) throw invalid(`${param}.tool_calls`, 'an array')
  let signed = false
  calls.forEach((call: unknown, k) => {
    const at = `${param}.tool_calls[${k}]`
    if (!isObject(call) || !isObject(call.function) || typeof call.id !== 'string' || typeof call.function.name !== 'string') {
      throw invalid(at, 'a function tool call with an id and a name')
    }
    callNames.set(call.id, call.function.name)
    const part: Part = { functionCall: { name: call.function.name, args: parseArguments(call.function.arguments, `${at}.function.arguments`) } }
    const signature = signatureOfToolCallId(call.id)
    if (signature) {
      part.thoughtSignature = signature
      signed = true
    } else if (k === 0) {
      part.thoughtSignature = SKIP_SIGNATURE
    }
    parts.push(part)
  })
  // Only the first call of a turn needs a signature; a real one on a later call makes the placeholder moot.
  const first = parts.find((p) => isObject(p.functionCall))
  if (signed && first && first.thoughtSignature === SKIP_SIGNATURE) delete first.thoughtSignature
  return parts
}

function functionResponse(message: Json, param: string, callNames: Map<string, string>): Part {
  const id = message.tool_call_id
  if (typeof id !== 'string' || !id) throw invalid(`${param}.tool_call_id`, 'the id of the tool call it answers')
  const name = callNames.get(id)
  if (!name) throw invalid(`${param}.tool_call_id`, 'the id of a tool call made earlier in the conversation')
  const text = typeof message.content === 'string' ? message.content : textParts(message.content, `${param}.content`).map((p) => p.text).join('')
  return { functionResponse: { name, response: resultObject(text) } }
}

/** Gemini wants a tool's result as an object: a JSON object result is itself, anything else is `{content}`. */
function resultObject(text: string): Json {
  try {
    const parsed: unknown = JSON.parse(text)
    if (isObject(parsed)) return parsed
  } catch {
    // plain text
  }
  return { content: text }
}

function generationConfig(canonical: Json): Json {
  const config: Json = {}
  const maxTokens = canonical.max_completion_tokens ?? canonical.max_tokens
  if (typeof maxTokens === 'number') config.maxOutputTokens = maxTokens
  const direct: [string, string][] = [
    ['temperature', 'temperature'], ['top_p', 'topP'], ['top_k', 'topK'], ['n', 'candidateCount'],
    ['presence_penalty', 'presencePenalty'], ['frequency_penalty', 'frequencyPenalty'], ['seed', 'seed'],
  ]
  for (const [from, to] of direct) {
    const value = canonical[from]
    if (value !== undefined && value !== null) config[to] = value
  }
  const stop = canonical.stop
  if (typeof stop === 'string') config.stopSequences = [stop]
  else if (Array.isArray(stop) && stop.length > 0) config.stopSequences = stop
  else if (stop !== undefined && stop !== null && !Array.isArray(stop)) throw invalid('stop', 'a string or an array of strings')
  const format = canonical.response_format
  if (format !== undefined && format !== null) {
    if (!isObject(format)) throw invalid('response_format', 'an object')
    if (format.type === 'json_object') config.responseMimeType = 'application/json'
    else if (format.type === 'json_schema' && isObject(format.json_schema) && isObject(format.json_schema.schema)) {
      config.responseMimeType = 'application/json'
      config.responseJsonSchema = format.json_schema.schema
    } else if (format.type !== 'text') throw unsupported('response_format', TARGET, "only 'text', 'json_object' and 'json_schema'")
  }
  const effort = canonical.reasoning_effort
  if (effort !== undefined && effort !== null) {
    const budget = typeof effort === 'string' ? THINKING_BUDGET[effort] : undefined
    if (budget === undefined) throw invalid('reasoning_effort', "'none', 'minimal', 'low', 'medium', 'high' or 'xhigh'")
    config.thinkingConfig = budget === 0 ? { thinkingBudget: 0 } : { thinkingBudget: budget, includeThoughts: true }
  }
  return config
}

function addTools(body: Json, canonical: Json): void {
  const tools = canonical.tools
  if (tools !== undefined && tools !== null) {
    if (!Array.isArray(tools)) throw invalid('tools', 'an array')
    const declarations = tools.map((tool: unknown, i) => {
      if (!isObject(tool) || tool.type !== 'function' || !isObject(tool.function) || typeof tool.function.name !== 'string') {
        throw unsupported(`tools[${i}]`, TARGET, 'only function tools')
      }
      const fn = tool.function
      const out: Json = { name: fn.name }
      if (typeof fn.description === 'string') out.description = fn.description
      // JSON Schema as written: `parameters` would take only Gemini's OpenAPI subset.
      if (isObject(fn.parameters)) out.parametersJsonSchema = fn.parameters
      return out
    })
    if (declarations.length > 0) body.tools = [{ functionDeclarations: declarations }]
  }
  const choice = canonical.tool_choice
  if (choice === undefined || choice === null) return
  let config: Json
  if (choice === 'auto') config = { mode: 'AUTO' }
  else if (choice === 'none') config = { mode: 'NONE' }
  else if (choice === 'required') config = { mode: 'ANY' }
  else if (isObject(choice) && choice.type === 'function' && isObject(choice.function) && typeof choice.function.name === 'string') {
    config = { mode: 'ANY', allowedFunctionNames: [choice.function.name] }
  } else throw unsupported('tool_choice', TARGET, "only 'auto', 'none', 'required' or a named function")
  body.toolConfig = { functionCallingConfig: config }
}
