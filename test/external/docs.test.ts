import { readFileSync } from 'node:fs'
import t from 'tap'

// docs/partner-api.md publishes the signature vectors; this keeps the two in step.
const docs = readFileSync(new URL('../../docs/partner-api.md', import.meta.url), 'utf8')
const { vectors } = JSON.parse(readFileSync(new URL('./signature-vectors.json', import.meta.url), 'utf8')) as {
  vectors: Array<{ name: string; nonce: string; body: string; canonical: string; signature: string; secret: string }>
}

t.test('every signature printed in the partner guide is a checked vector', async (t) => {
  const printed = new Set(docs.match(/\b[0-9a-f]{64}\b/g) ?? [])
  t.ok(printed.size >= 5)
  const known = new Set(vectors.map((v) => v.signature))
  for (const signature of printed) t.ok(known.has(signature), `${signature} is in signature-vectors.json`)
})

t.test('each vector the guide cites appears with its nonce and exact body', async (t) => {
  t.ok(docs.includes(vectors[0]!.secret), 'the guide names the vectors\' secret')
  for (const v of vectors) {
    if (!docs.includes(v.signature)) continue
    t.ok(docs.includes(v.nonce), `${v.name}: nonce ${v.nonce}`)
    if (v.body) t.ok(docs.includes(v.body), `${v.name}: body`)
  }
})
