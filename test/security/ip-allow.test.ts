import t from 'tap';
import { InvalidIpEntryError, compileAllowList, isValidIpOrCidr } from '../../src/security/ip-allow.js';

t.test('an empty list allows every address', async (t) => {
  const list = compileAllowList([]);
  t.ok(list.allows('203.0.113.9'));
  t.ok(list.allows('2001:db8::1'));
});

t.test('a single IPv4 address allows only itself', async (t) => {
  const list = compileAllowList(['203.0.113.9']);
  t.ok(list.allows('203.0.113.9'));
  t.notOk(list.allows('203.0.113.10'));
});

t.test('an IPv4 CIDR allows its range', async (t) => {
  const list = compileAllowList(['10.0.0.0/8']);
  t.ok(list.allows('10.255.1.2'));
  t.notOk(list.allows('11.0.0.1'));
});

t.test('a CIDR written with host bits set covers its network', async (t) => {
  t.ok(compileAllowList(['192.168.1.77/24']).allows('192.168.1.3'));
});

t.test('IPv6 addresses and CIDRs match in any written form', async (t) => {
  const list = compileAllowList(['2001:db8::/32', '::1']);
  t.ok(list.allows('2001:db8:abcd::42'));
  t.ok(list.allows('2001:0db8:0000:0000:0000:0000:0000:0001'));
  t.ok(list.allows('0:0:0:0:0:0:0:1'));
  t.notOk(list.allows('2001:db9::1'));
});

t.test('an IPv4-mapped IPv6 client address matches IPv4 rules', async (t) => {
  const list = compileAllowList(['1.2.3.0/24', '10.0.0.5']);
  t.ok(list.allows('::ffff:1.2.3.4'));
  t.ok(list.allows('::ffff:10.0.0.5'));
  t.ok(list.allows('::ffff:a00:5'));
  t.notOk(list.allows('::ffff:1.2.4.4'));
});

t.test('a /0 allows the whole family only', async (t) => {
  const list = compileAllowList(['0.0.0.0/0']);
  t.ok(list.allows('8.8.8.8'));
  t.notOk(list.allows('2001:db8::1'));
});

t.test('a client address that is not an IP is refused by a non-empty list', async (t) => {
  const list = compileAllowList(['10.0.0.0/8']);
  t.notOk(list.allows(''));
  t.notOk(list.allows('localhost'));
  t.notOk(list.allows('10.0.0.1 '));
});

t.test('valid entries', async (t) => {
  for (const entry of ['1.2.3.4', '0.0.0.0/0', '10.0.0.0/8', '1.2.3.4/32', '::', '::1', '2001:db8::/32', '::ffff:1.2.3.4', 'fe80::/10', '2001:db8::/128']) {
    t.ok(isValidIpOrCidr(entry), entry);
  }
});

t.test('invalid entries', async (t) => {
  for (const entry of ['', ' 1.2.3.4', '1.2.3.4 ', '1.2.3', '256.1.1.1', '01.2.3.4', '1.2.3.4/33', '1.2.3.4/', '1.2.3.4/-1', '1.2.3.4/+8', '1.2.3.4/8/8', '1.2.3.4/08x', '2001:db8::/129', 'fe80::1%eth0', 'example.com', '*', '1.2.3.*']) {
    t.notOk(isValidIpOrCidr(entry), JSON.stringify(entry));
  }
});

t.test('compiling a list with a bad entry names that entry', async (t) => {
  t.throws(() => compileAllowList(['10.0.0.0/8', '10.0.0.0/40']), InvalidIpEntryError);
  t.throws(() => compileAllowList(['nope']), { message: /"nope"/, entry: 'nope' });
});
