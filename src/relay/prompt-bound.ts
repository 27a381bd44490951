// The reservation's view of a prompt: an upper bound of its tokens read from the body's size, so nothing is
// tokenized before forwarding (the exact count is made only when an answer carries no usage).
//
// Every token of a byte-level BPE tokenizer covers at least one byte of text, and the JSON around the text only
// adds bytes, so a text prompt never has more tokens than its body has bytes. Images break that rule both ways:
// a base64 payload is far larger than the image's tokens, and an image URL far smaller. So a base64 payload is
// counted as an image allowance instead of by its size, and every image part adds that allowance.

/** Tokens one image may cost at most (OpenAI's high-detail and Anthropic's largest images stay below it). */
export const IMAGE_TOKENS_BOUND = 3_000

const BASE64_MARK = ';base64,'
/** The key of an image part, in chat (`{"type":"image_url","image_url":{…}}`) and Responses (`input_image`) bodies. */
const IMAGE_KEY = '"image_url"'

/** Upper bound of the prompt tokens of a JSON request body, given as the text that was parsed. */
export function promptTokensBound(json: string): number {
  let bytes = Buffer.byteLength(json, 'utf8')
  let images = 0
  // A base64 payload runs from its mark to the closing quote of its JSON string (base64 has no quotes or escapes).
  for (let at = json.indexOf(BASE64_MARK); at >= 0; at = json.indexOf(BASE64_MARK, at + 1)) {
    const end = json.indexOf('"', at + BASE64_MARK.length)
    if (end < 0) break
    bytes -= end - at - BASE64_MARK.length
    images++
    at = end
  }
  let parts = 0
  for (let at = json.indexOf(IMAGE_KEY); at >= 0; at = json.indexOf(IMAGE_KEY, at + IMAGE_KEY.length)) {
    // A key, not the `type` value of the same name: the next non-blank character is a colon.
    let next = at + IMAGE_KEY.length
    while (json.charCodeAt(next) === 0x20 || json.charCodeAt(next) === 0x0a || json.charCodeAt(next) === 0x0d || json.charCodeAt(next) === 0x09) next++
    if (json.charCodeAt(next) === 0x3a) parts++
  }
  return Math.max(0, bytes) + Math.max(images, parts) * IMAGE_TOKENS_BOUND
}
