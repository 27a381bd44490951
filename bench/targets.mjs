// The targets of one run, started side by side: the lean upstream (called directly), nginx in front of it when
// installed, the gateway on SQLite + memory, and on MySQL + Redis when configured. Each target is
// { id, label, url, pid, headers, gateway? }; `pid` is the process whose CPU and memory are reported.
import { fileURLToPath } from 'node:url'
import { startGateway } from './gateway.mjs'
import { nginxBinary, nginxVersion, startNginx } from './nginx.mjs'
import { firstLine, startProcess } from './procs.mjs'

const UPSTREAM_SCRIPT = fileURLToPath(new URL('./upstream.mjs', import.meta.url))
const NODE_PROXY_SCRIPT = fileURLToPath(new URL('./node-proxy.mjs', import.meta.url))

/** Returns { targets, gateways, nginxInfo }; what was skipped and why goes into `notes`. */
export async function startTargets(config, tmpDir, notes) {
  const upstream = startProcess('upstream', process.execPath, [UPSTREAM_SCRIPT], { env: { BENCH_CHILD: '1', PORT: '' } })
  const upstreamPort = firstLine(upstream).then(Number)
  const upstreamUrl = upstreamPort.then((port) => `http://127.0.0.1:${port}`)

  // The gateways start (migrations, the admin password's hash) while the upstream and nginx do.
  const kinds = ['sqlite']
  if (config.mysqlUrl && config.redisUrl) kinds.push('mysql')
  else if (!config.tiny) notes.push('BENCH_MYSQL_URL / BENCH_REDIS_URL are not set: the MySQL + Redis column is skipped.')
  const starting = kinds.map((kind) => startGateway(kind, { tmpDir, upstreamUrl, mysqlUrl: config.mysqlUrl, redisUrl: config.redisUrl }))
  starting.forEach((p) => p.catch(() => {})) // awaited below; meanwhile a failure is not an unhandled rejection

  const targets = [{ id: 'direct', label: 'direct', url: await upstreamUrl, pid: upstream.pid, headers: {} }]
  let nginxInfo = null
  if (config.nginx) {
    const binary = nginxBinary()
    if (binary) {
      const nginx = await startNginx(binary, { tmpDir, upstreamPort: await upstreamPort })
      nginxInfo = `nginx ${nginxVersion(binary)}`
      targets.push({ id: 'nginx', label: 'nginx', url: nginx.url, pid: nginx.pid, headers: {} })
    } else {
      notes.push('nginx is not installed (`apt-get install nginx-light`): its column is skipped and the ratios to nginx are not checked.')
    }
  } else {
    notes.push(config.tiny ? 'Tiny run: nginx and MySQL are skipped.' : 'BENCH_NGINX=0: the nginx column is skipped.')
  }

  // The bare Node proxy of this stack: what a gateway on Fastify + undici costs before doing any work of its own.
  if (config.nodeProxy) {
    const bare = startProcess('node-proxy', process.execPath, [NODE_PROXY_SCRIPT], {
      env: { BENCH_CHILD: '1', UPSTREAM_URL: await upstreamUrl, NODE_ENV: 'production' },
    })
    const port = Number(await firstLine(bare))
    targets.push({ id: 'node-proxy', label: 'bare Fastify proxy', url: `http://127.0.0.1:${port}`, pid: bare.pid, headers: {} })
  }

  const gateways = []
  for (const gateway of await Promise.all(starting)) {
    const target = {
      id: gateway.kind, label: gateway.label, url: gateway.url, pid: gateway.pid,
      headers: { authorization: `Bearer ${gateway.key}` }, gateway,
    }
    targets.push(target)
    gateways.push(target)
  }
  return { targets, gateways, nginxInfo }
}
