// Component test of the console's one XSS-relevant component: MessageText, which renders untrusted model output
// (web/src/markdown.tsx). The browser suite shows one `<img onerror>` rendered as text; this checks the property
// over thousands of generated texts, markup-heavy on purpose: whatever the text, the tree holds only the few
// elements the renderer builds, with no attribute but `class` on the wrapper, and every `<`, `>`, `&` and quote of
// the text reaches the page as text.
//
// The console is built by Vite, not by this suite's TypeScript loader (root tsconfig, no JSX): the file is
// compiled with Vite's own transform (the console's build tool, so the same JSX semantics) into a module beside
// node_modules, where `preact` resolves, and imported.
import fc from 'fast-check'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import t from 'tap'
import { transformWithOxc } from 'vite'
import { ROOT } from './support.js'

interface VNode {
  type: unknown
  props: Record<string, unknown> & { children?: unknown }
}

const ALLOWED = new Set(['div', 'p', 'br', 'ul', 'ol', 'li', 'pre', 'code', 'strong'])

async function loadMarkdown(): Promise<{ MessageText: (props: { text: string }) => VNode }> {
  const file = join(ROOT, 'web', 'src', 'markdown.tsx')
  const { code } = await transformWithOxc(readFileSync(file, 'utf8'), file, { lang: 'tsx', jsx: { runtime: 'automatic', importSource: 'preact' } })
  const dir = join(ROOT, 'node_modules', '.cache', 'nexus-web-test')
  mkdirSync(dir, { recursive: true })
  const out = join(dir, `markdown-${process.pid}.mjs`)
  writeFileSync(out, code)
  return import(pathToFileURL(out).href)
}

/** Walks the tree: every element's type and props, and the text leaves in document order. */
function walk(node: unknown, elements: Array<{ type: unknown; props: string[] }>, texts: string[]): void {
  if (node === null || node === undefined || typeof node === 'boolean') return
  if (typeof node === 'string' || typeof node === 'number') {
    texts.push(String(node))
    return
  }
  if (Array.isArray(node)) {
    for (const child of node) walk(child, elements, texts)
    return
  }
  const vnode = node as VNode
  elements.push({ type: vnode.type, props: Object.keys(vnode.props).filter((k) => k !== 'children') })
  walk(vnode.props.children, elements, texts)
}

function render(MessageText: (props: { text: string }) => VNode, text: string) {
  const elements: Array<{ type: unknown; props: string[] }> = []
  const texts: string[] = []
  walk(MessageText({ text }), elements, texts)
  return { elements, texts, joined: texts.join('') }
}

const count = (s: string, ch: string) => s.split(ch).length - 1

t.test('MessageText renders untrusted text as text, whatever it holds', async (t) => {
  const { MessageText } = await loadMarkdown()

  t.test('examples', async (t) => {
    const attack = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    const plain = render(MessageText, attack)
    t.same(plain.elements.map((e) => e.type), ['div', 'p'], 'markup is one paragraph of text')
    t.equal(plain.joined, attack, 'every character of it shown')

    const rich = render(MessageText, 'Hi **there** and `<b>x</b>`\n\n- one\n- two\n\n```html\n<a href="javascript:x">y</a>\n```')
    t.same(rich.elements.map((e) => e.type), ['div', 'p', 'strong', 'code', 'ul', 'li', 'li', 'pre', 'code'])
    t.ok(rich.texts.includes('<b>x</b>'), 'inline code keeps its markup as text')
    t.ok(rich.texts.includes('<a href="javascript:x">y</a>'), 'a fenced block keeps its markup as text')
    t.same(render(MessageText, '1. a\n2) b').elements.map((e) => e.type), ['div', 'ol', 'li', 'li'])
    t.same(render(MessageText, 'line\nbreak').elements.map((e) => e.type), ['div', 'p', 'br'])
    t.same(render(MessageText, '```\nunclosed, mid-stream <i>').elements.map((e) => e.type), ['div', 'pre', 'code'], 'an unclosed fence runs to the end')
  })

  t.test('property: only the renderer\'s own elements, no attributes, markup characters kept', async (t) => {
    // Texts made of markup-heavy pieces, so tags, entities, fences, bullets and emphasis meet in every order.
    const piece = fc.oneof(
      fc.constantFrom('<', '>', '&', '"', "'", '`', '```', '```html', '**', '*', '-', '1.', '\n', '\n\n', ' ', '=', '/'),
      fc.constantFrom('<img src=x onerror=alert(1)>', '<script>', '</p>', '&lt;', 'javascript:', '<svg onload=x>', '{{x}}', '${x}'),
      fc.string({ maxLength: 8 }),
      fc.string({ unit: 'grapheme', maxLength: 4 }),
    )
    const text = fc.array(piece, { maxLength: 40 }).map((parts) => parts.join(''))
    let checked = 0
    fc.assert(
      fc.property(text, (input) => {
        const { elements, joined } = render(MessageText, input)
        checked++
        const [root, ...inner] = elements
        if (root?.type !== 'div' || root.props.join() !== 'class') return false
        for (const e of inner) {
          if (typeof e.type !== 'string' || !ALLOWED.has(e.type) || e.props.length !== 0) return false
        }
        // A fence's info string (```html) is not shown, nor are the markers ** ` and list bullets: the characters
        // that make HTML are never among them, so each one of the text is on the page, outside fence lines.
        const shown = input.replace(/^```[^\n]*$/gm, '')
        return ['<', '>', '&', '"', "'", '='].every((ch) => count(joined, ch) === count(shown, ch))
      }),
      { numRuns: 3_000, ...(process.env.MARKDOWN_SEED ? { seed: Number(process.env.MARKDOWN_SEED) } : {}) },
    )
    t.equal(checked, 3_000, 'every generated text rendered and checked')
  })
})
