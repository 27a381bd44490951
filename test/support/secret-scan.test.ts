// The suite-wide secret scan of test/support/build-app.ts must actually catch what it looks for, and must not cry
// wolf at what the production logger writes for an ordinary request.
import t from 'tap'
import { secretScan } from './build-app.js'

t.test('each shape of secret is caught, and reported without the secret itself', async (t) => {
  const relayKey = `sk-${'a1B2'.repeat(12)}`
  const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'
  const lines = [
    `{"msg":"token ${relayKey}"}`,
    `{"msg":"bad session","token":"${jwt}"}`,
    '{"url":"https://generativelanguage.googleapis.com/v1beta/models/x?key=AIzaSyExample123"}',
    '{"req":{"headers":{"authorization":"Bearer abc"}}}',
    '{"body":{"password":"hunter22"}}',
  ]
  for (const line of lines) {
    const scan = secretScan()
    scan.stream.write(line)
    t.throws(() => scan.assertClean(), /secrets leaked/, line.slice(0, 40))
    try {
      scan.assertClean()
    } catch (err) {
      t.notMatch((err as Error).message, /a1B2a1B2|eyJhbGci|AIzaSy|Bearer abc|hunter22/, 'the report names no secret')
    }
  }
})

t.test('redacted and ordinary lines pass', async (t) => {
  const scan = secretScan()
  scan.stream.write('{"level":30,"req":{"method":"POST","url":"/v1/chat/completions","headers":{"authorization":"[redacted]"}},"msg":"incoming request"}')
  scan.stream.write('{"level":30,"body":{"password":"[redacted]"},"msg":"x"}')
  scan.stream.write('{"level":30,"url":"/ws/chat?token=[redacted]","msg":"incoming request"}')
  scan.check('an error body', '{"error":{"message":"invalid relay key","type":"invalid_request_error","code":"invalid_api_key"}}')
  t.doesNotThrow(() => scan.assertClean())
})
