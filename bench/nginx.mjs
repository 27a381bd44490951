// The reference: nginx `proxy_pass` to the same upstream, with upstream keepalive, as a child process of the
// bench (no master, no daemon, one worker) with a generated config and every path inside a temp folder.
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, startProcess, waitHttp, which } from './procs.mjs'

export function nginxBinary() {
  return which('nginx') ?? ['/usr/sbin/nginx', '/usr/local/sbin/nginx'].find((p) => spawnSync(p, ['-v']).status === 0) ?? null
}

export function nginxVersion(binary) {
  const r = spawnSync(binary, ['-v'], { encoding: 'utf8' })
  return /nginx\/(\S+)/.exec(r.stderr + r.stdout)?.[1] ?? '?'
}

export function nginxConfig({ dir, port, upstreamPort }) {
  return `daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 16384;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 8192; multi_accept on; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  client_max_body_size 32m;
  # A 128 KB prompt stays in memory, as it does in the gateway.
  client_body_buffer_size 1m;
  keepalive_requests 1000000;
  keepalive_timeout 65s;
  upstream bench_upstream {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 300s;
    }
  }
}
`
}

/** Starts nginx in front of the upstream; returns { url, pid, child }. */
export async function startNginx(binary, { tmpDir, upstreamPort }) {
  const dir = join(tmpDir, 'nginx')
  mkdirSync(dir, { recursive: true })
  const port = await freePort()
  writeFileSync(join(dir, 'nginx.conf'), nginxConfig({ dir, port, upstreamPort }))
  const child = startProcess('nginx', binary, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  const url = `http://127.0.0.1:${port}`
  try {
    // Any answer from the upstream through nginx will do; a GET is a non-stream completion.
    await waitHttp(`${url}/v1/chat/completions`, child, 100)
  } catch (err) {
    throw new Error(`nginx did not start: ${err.message} ${stderr}`)
  }
  return { url, port, pid: child.pid, child }
}
