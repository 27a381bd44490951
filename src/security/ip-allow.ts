// A relay token's `allow_ips` (CONTRACT §3: client IP not listed → 403 ip_not_allowed), compiled
// once per token into node's BlockList so each request is a single lookup.

import { BlockList, isIP } from 'node:net';

export class InvalidIpEntryError extends Error {
  override name = 'InvalidIpEntryError';
  constructor(readonly entry: string) {
    super(`${JSON.stringify(entry)} is not an IPv4/IPv6 address or CIDR`);
  }
}

export interface AllowList {
  /** true when the list is empty or the address matches an entry; an unparsable address → false */
  allows(ip: string): boolean;
}

type Family = 'ipv4' | 'ipv6';

interface ParsedEntry {
  address: string;
  family: Family;
  prefix: number | undefined;
}

const PREFIX = /^\d{1,3}$/;

function parseEntry(entry: string): ParsedEntry | undefined {
  const slash = entry.indexOf('/');
  const address = slash === -1 ? entry : entry.slice(0, slash);
  // zone ids (fe80::1%eth0) name a local interface, which means nothing for a remote client
  if (address.includes('%')) return undefined;
  const version = isIP(address);
  if (version === 0) return undefined;
  const family: Family = version === 4 ? 'ipv4' : 'ipv6';
  if (slash === -1) return { address, family, prefix: undefined };
  const prefixText = entry.slice(slash + 1);
  if (!PREFIX.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > (family === 'ipv4' ? 32 : 128)) return undefined;
  return { address, family, prefix };
}

/** For request validation: a single address (`1.2.3.4`, `::1`) or a CIDR (`10.0.0.0/8`, `2001:db8::/32`). */
export function isValidIpOrCidr(entry: string): boolean {
  return parseEntry(entry) !== undefined;
}

const ALLOW_ALL: AllowList = { allows: () => true };

/**
 * Node's BlockList already matches an IPv4-mapped IPv6 client (`::ffff:1.2.3.4`, which is how a
 * dual-stack listener reports IPv4 peers) against IPv4 rules, and the reverse; the tests pin that.
 */
export function compileAllowList(entries: readonly string[]): AllowList {
  if (entries.length === 0) return ALLOW_ALL;
  const list = new BlockList();
  for (const entry of entries) {
    const parsed = parseEntry(entry);
    if (!parsed) throw new InvalidIpEntryError(entry);
    if (parsed.prefix === undefined) list.addAddress(parsed.address, parsed.family);
    else list.addSubnet(parsed.address, parsed.prefix, parsed.family);
  }
  return {
    allows(ip: string): boolean {
      const version = isIP(ip);
      if (version === 0) return false;
      try {
        return list.check(ip, version === 4 ? 'ipv4' : 'ipv6');
      } catch {
        return false;
      }
    },
  };
}
