import preact from '@preact/preset-vite'
import { defineConfig } from 'vite'

// The console is built into dist/web, which src/web/plugin.ts serves at `/`. Hashed file names under
// assets/ let the server cache them forever; index.html is the only file ever revalidated.
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  publicDir: false,
  plugins: [preact({ devToolsEnabled: false, prefreshEnabled: false })],
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    target: 'es2022',
    // No inline anything: the CSP allows scripts and styles from 'self' only, and data: images.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  server: {
    // `npx vite --config web/vite.config.ts` for development against a gateway on :3000.
    proxy: { '/api': 'http://127.0.0.1:3000', '/v1': 'http://127.0.0.1:3000', '/ws': { target: 'ws://127.0.0.1:3000', ws: true } },
  },
})
