// The console's build, on demand: `npm test` builds it first, but a single test file run by hand should not
// test a stale or missing dist/web. Rebuilt when any file under web/ is newer than dist/web/index.html. Test files
// run in parallel, so the build is serialised with a lock directory (mkdir is atomic).
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { projectRoot } from '../../src/db/paths.js'

export const ROOT = projectRoot()
export const WEB_DIST = join(ROOT, 'dist', 'web')
const LOCK = join(ROOT, 'dist', '.web-build.lock')

function newestSource(dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs)
  }
  return newest
}

function isFresh(): boolean {
  const index = join(WEB_DIST, 'index.html')
  return existsSync(index) && statSync(index).mtimeMs >= newestSource(join(ROOT, 'web'))
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export async function ensureConsoleBuilt(): Promise<void> {
  const deadline = Date.now() + 120_000
  while (!isFresh()) {
    mkdirSync(join(ROOT, 'dist'), { recursive: true })
    try {
      mkdirSync(LOCK)
    } catch {
      // Another test file is building: wait for it (a lock left by a killed run expires after 2 minutes).
      const lock = statSync(LOCK, { throwIfNoEntry: false })
      if (lock && Date.now() - lock.mtimeMs > 120_000) rmSync(LOCK, { recursive: true, force: true })
      if (Date.now() > deadline) throw new Error('timed out waiting for another build of the web console')
      await sleep(250)
      continue
    }
    try {
      if (!isFresh()) {
        execFileSync(join(ROOT, 'node_modules', '.bin', 'vite'), ['build', '--config', 'web/vite.config.ts', '--logLevel', 'warn'], { cwd: ROOT, stdio: 'inherit' })
      }
    } finally {
      rmSync(LOCK, { recursive: true, force: true })
    }
  }
}
