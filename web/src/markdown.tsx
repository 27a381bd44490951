// Model output is untrusted text. It is rendered through a tiny Markdown subset — paragraphs, line breaks,
// bullet and numbered lists, fenced code blocks, `inline code` and **bold** — built only from elements and
// string children, which Preact turns into text nodes. No HTML from the text is ever parsed: `<img onerror>`
// shows as the characters it is made of.
import type { ComponentChildren } from 'preact'

function inline(text: string): ComponentChildren[] {
  const out: ComponentChildren[] = []
  // `code` first (nothing inside it is formatted), then **bold**.
  const parts = text.split(/(`[^`\n]+`)/g)
  parts.forEach((part, i) => {
    if (part.length > 2 && part.startsWith('`') && part.endsWith('`')) {
      out.push(<code key={`c${i}`}>{part.slice(1, -1)}</code>)
      return
    }
    part.split(/(\*\*[^*\n]+\*\*)/g).forEach((piece, j) => {
      if (piece.length > 4 && piece.startsWith('**') && piece.endsWith('**')) out.push(<strong key={`b${i}-${j}`}>{piece.slice(2, -2)}</strong>)
      else if (piece) out.push(piece)
    })
  })
  return out
}

function lines(text: string): ComponentChildren[] {
  const out: ComponentChildren[] = []
  text.split('\n').forEach((line, i) => {
    if (i > 0) out.push(<br key={`br${i}`} />)
    out.push(...inline(line))
  })
  return out
}

const BULLET = /^\s*[-*•]\s+/
const NUMBERED = /^\s*\d+[.)]\s+/

function block(text: string, key: string): ComponentChildren {
  const rows = text.split('\n')
  if (rows.every((r) => BULLET.test(r))) return <ul key={key}>{rows.map((r, i) => <li key={i}>{inline(r.replace(BULLET, ''))}</li>)}</ul>
  if (rows.every((r) => NUMBERED.test(r))) return <ol key={key}>{rows.map((r, i) => <li key={i}>{inline(r.replace(NUMBERED, ''))}</li>)}</ol>
  return <p key={key}>{lines(text)}</p>
}

export function MessageText({ text }: { text: string }) {
  const out: ComponentChildren[] = []
  // Odd pieces are the insides of ``` fences; an unclosed fence (mid-stream) runs to the end.
  const pieces = text.split(/^```[^\n]*\n?/m)
  pieces.forEach((piece, i) => {
    if (i % 2 === 1) {
      out.push(
        <pre key={`pre${i}`}>
          <code>{piece.replace(/\n$/, '')}</code>
        </pre>,
      )
      return
    }
    piece
      .split(/\n{2,}/)
      .map((p) => p.replace(/^\n+|\n+$/g, ''))
      .filter(Boolean)
      .forEach((p, j) => out.push(block(p, `b${i}-${j}`)))
  })
  return <div class="message-text">{out}</div>
}
