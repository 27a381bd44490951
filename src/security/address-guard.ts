// The outbound address guard of personal APIs (CONTRACT §7): a user names the URL, so without this check the
// gateway would fetch whatever that URL reaches from inside the network — the cloud metadata service
// (169.254.169.254), an admin port on loopback, a database on a private subnet. Only public unicast addresses pass.
import ipaddr from 'ipaddr.js'
import { ApiError } from '../errors.js'

/** IPv4 ranges that are public unicast (ipaddr.js names AS112 and AMT anycast separately; both are public). */
const PUBLIC_V4 = new Set(['unicast', 'as112', 'amt'])
/** IPv6 ranges that are public unicast, once the global-unicast prefix 2000::/3 has been checked. */
const PUBLIC_V6 = new Set(['unicast', 'as112v6', 'amt'])
const GLOBAL_UNICAST = ipaddr.IPv6.parseCIDR('2000::/3')
/** NAT64's well-known prefix (RFC 6052): the last 32 bits are the IPv4 address reached. */
const NAT64_WELL_KNOWN = ipaddr.IPv6.parseCIDR('64:ff9b::/96')

/** The IPv4 address an IPv6 address stands for, when it is one of the forms that carry one. */
function embeddedIpv4(ip: ipaddr.IPv6): ipaddr.IPv4 | null {
  const range = ip.range()
  const p = ip.parts
  const fromLow32 = () => new ipaddr.IPv4([p[6]! >> 8, p[6]! & 0xff, p[7]! >> 8, p[7]! & 0xff])
  // ::ffff:a.b.c.d (mapped) and ::ffff:0:a.b.c.d (RFC 6145 translated)
  if (range === 'ipv4Mapped' || range === 'rfc6145') return fromLow32()
  if (ip.match(NAT64_WELL_KNOWN)) return fromLow32()
  // 2002:AABB:CCDD::/48 (6to4) reaches AA.BB.CC.DD
  if (range === '6to4') return new ipaddr.IPv4([p[1]! >> 8, p[1]! & 0xff, p[2]! >> 8, p[2]! & 0xff])
  return null
}

/**
 * Why the gateway refuses to connect to `address` (an IP literal), or null when it is a public unicast address.
 * IPv6 forms that embed an IPv4 address (mapped, translated, NAT64, 6to4) are judged by that IPv4 address, so
 * `::ffff:127.0.0.1` and `64:ff9b::7f00:1` are loopback; anything unparsable is refused.
 */
export function addressRefusal(address: string): string | null {
  let ip: ipaddr.IPv4 | ipaddr.IPv6
  try {
    ip = ipaddr.parse(address)
  } catch {
    return 'not an IP address'
  }
  if (ip.kind() === 'ipv6') {
    const v6 = ip as ipaddr.IPv6
    const v4 = embeddedIpv4(v6)
    if (v4) return addressRefusal(v4.toString())
    const range = v6.range()
    // 64:ff9b:1::/48 (RFC 8215) is NAT64 for a local network's own use: never public.
    if (range === 'rfc6052') return 'local-use NAT64'
    if (!v6.match(GLOBAL_UNICAST)) return range === 'unicast' ? 'reserved' : range
    return PUBLIC_V6.has(range) ? null : range
  }
  const range = (ip as ipaddr.IPv4).range()
  return PUBLIC_V4.has(range) ? null : range
}

/** Hostnames that name this machine by definition (RFC 6761), refused without asking DNS. */
export function isLocalhostName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '')
  return name === 'localhost' || name.endsWith('.localhost')
}

/**
 * The error every refusal answers with: 400, the client's (or the personal API owner's) input, never a
 * channel failure. It does not say which address a name resolved to: the caller learns no more of the
 * internal DNS than that the answer was refused.
 */
export function addressNotAllowed(message: string, param?: string): ApiError {
  return new ApiError(400, 'address_not_allowed', message, { param, retry: false })
}

const HINT = 'loopback, private, link-local, unique-local, CGNAT, multicast and reserved addresses are refused unless PERSONAL_API_ALLOW_PRIVATE=true'

/** An IP literal in a URL, or a resolved address, that must not be reached. */
export function literalRefused(address: string, reason: string, param?: string): ApiError {
  return addressNotAllowed(`the address ${address} is not allowed (${reason}): ${HINT}`, param)
}

/** A hostname that resolved to at least one address that must not be reached. */
export function hostRefused(param?: string): ApiError {
  return addressNotAllowed(`the host resolves to an address that is not allowed: ${HINT}`, param)
}

/** Plain http to a personal API: only with PERSONAL_API_ALLOW_PRIVATE. */
export function plainHttpRefused(param?: string): ApiError {
  return addressNotAllowed('personal APIs must use https (plain http only with PERSONAL_API_ALLOW_PRIVATE=true)', param)
}
