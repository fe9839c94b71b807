import { describe, expect, it } from 'vitest';
import {
  canonicalAddress,
  clientAddress,
  MAX_PROXY_HOPS,
  trustedProxyMatcher,
} from '../../../../src/dashboard/http/client-address.js';

/**
 * Which address a request counts as coming from behind `http.trustedProxies`: the walk from the
 * socket leftwards over X-Forwarded-For, over trusted proxies only, to the first untrusted
 * address; text a client wrote left of that is never read.
 */
const LOOPBACK_PROXY = trustedProxyMatcher(['127.0.0.1']);
const PROXY_AND_BALANCERS = trustedProxyMatcher(['127.0.0.1', '10.0.0.0/24', 'fd00::/8']);

describe('without trusted proxies', () => {
  const none = trustedProxyMatcher([]);
  it("counts the socket's address and ignores the header", () => {
    expect(clientAddress('192.0.2.44', '198.51.100.61', none)).toBe('192.0.2.44');
  });
});

describe('from an address that is not a trusted proxy', () => {
  it('ignores the header', () => {
    expect(clientAddress('192.0.2.44', '198.51.100.61', LOOPBACK_PROXY)).toBe('192.0.2.44');
  });
});

describe('from a trusted proxy', () => {
  it('counts the address the proxy added', () => {
    expect(clientAddress('127.0.0.1', '198.51.100.60', LOOPBACK_PROXY)).toBe('198.51.100.60');
  });

  it('does not read the addresses a client wrote before it', () => {
    expect(clientAddress('127.0.0.1', '10.0.0.1, 203.0.113.9, 198.51.100.60', LOOPBACK_PROXY)).toBe(
      '198.51.100.60',
    );
  });

  it('counts the same client for every address the client writes into the header', () => {
    const seen = new Set(
      ['1.1.1.1', '2.2.2.2', '127.0.0.1', '::1'].map((spoofed) =>
        clientAddress('127.0.0.1', `${spoofed}, 198.51.100.60`, LOOPBACK_PROXY),
      ),
    );
    expect([...seen]).toEqual(['198.51.100.60']);
  });

  it("counts the proxy's own address when the header is missing, empty or blank", () => {
    expect(
      [undefined, '', '  ', ','].map((header) => clientAddress('127.0.0.1', header, LOOPBACK_PROXY)),
    ).toEqual(['127.0.0.1', '127.0.0.1', '127.0.0.1', '127.0.0.1']);
  });

  it('joins repeated X-Forwarded-For headers in order', () => {
    expect(clientAddress('127.0.0.1', ['203.0.113.9', '198.51.100.60'], LOOPBACK_PROXY)).toBe(
      '198.51.100.60',
    );
  });
});

describe('through several trusted proxies', () => {
  it('steps over each trusted hop to the client the outermost one saw', () => {
    // client → balancer 10.0.0.5 → TLS proxy on loopback → dashboard
    expect(clientAddress('127.0.0.1', '198.51.100.60, 10.0.0.5', PROXY_AND_BALANCERS)).toBe('198.51.100.60');
  });

  it('stops at the first untrusted address and reads nothing left of it', () => {
    expect(
      clientAddress('127.0.0.1', '10.0.0.9, 203.0.113.1, 198.51.100.60, 10.0.0.5', PROXY_AND_BALANCERS),
    ).toBe('198.51.100.60');
  });

  it('counts the last trusted hop when every entry is a trusted proxy', () => {
    expect(clientAddress('127.0.0.1', '10.0.0.7, 10.0.0.5', PROXY_AND_BALANCERS)).toBe('10.0.0.7');
  });
});

describe('an entry that is not an IP address', () => {
  it.each([
    ['text', 'not an address'],
    ['a host name', 'client.example'],
    ['an address with a port', '198.51.100.60:51234'],
    ['a bracketed IPv6 address', '[2001:db8::1]'],
    ['an address with a leading zero', '198.051.100.60'],
    ['markup', '<script>alert(1)</script>'],
    ['a line break', '198.51.100.60\n203.0.113.1'],
  ])('ends the walk at the last trusted hop: %s', (_what, garbage) => {
    expect(clientAddress('127.0.0.1', garbage, LOOPBACK_PROXY)).toBe('127.0.0.1');
    expect(clientAddress('127.0.0.1', `198.51.100.60, ${garbage}, 10.0.0.5`, PROXY_AND_BALANCERS)).toBe(
      '10.0.0.5',
    );
  });

  it('is not skipped to reach an address the client wrote before it', () => {
    expect(clientAddress('127.0.0.1', '203.0.113.1, garbage', LOOPBACK_PROXY)).toBe('127.0.0.1');
  });

  it('as an empty item between commas, ends the walk too', () => {
    expect(clientAddress('127.0.0.1', '203.0.113.1,,10.0.0.5', PROXY_AND_BALANCERS)).toBe('10.0.0.5');
  });
});

describe('IPv6', () => {
  it('walks over trusted IPv6 proxies to an IPv6 client', () => {
    expect(clientAddress('::1', '2001:db8::7, fd00::2', trustedProxyMatcher(['::1', 'fd00::/8']))).toBe(
      '2001:db8::7',
    );
  });

  it('writes an address one way however the header spells it', () => {
    expect(clientAddress('127.0.0.1', '2001:DB8:0:0::7', LOOPBACK_PROXY)).toBe('2001:db8::7');
  });

  it("ignores an IPv6 client's header when its socket is not a trusted proxy", () => {
    expect(clientAddress('2001:db8::9', '203.0.113.1', LOOPBACK_PROXY)).toBe('2001:db8::9');
  });
});

describe('IPv4-mapped IPv6 addresses (a dual-stack socket)', () => {
  it('match an IPv4 trusted proxy', () => {
    expect(clientAddress('::ffff:127.0.0.1', '198.51.100.60', LOOPBACK_PROXY)).toBe('198.51.100.60');
  });

  it('count as the IPv4 address, so that one client has one throttle key', () => {
    expect([
      clientAddress('::ffff:192.0.2.44', undefined, LOOPBACK_PROXY),
      clientAddress('127.0.0.1', '::ffff:198.51.100.60', LOOPBACK_PROXY),
      clientAddress('127.0.0.1', '::FFFF:c633:643c', LOOPBACK_PROXY),
    ]).toEqual(['192.0.2.44', '198.51.100.60', '198.51.100.60']);
  });

  it('are stepped over when they name a trusted proxy', () => {
    expect(clientAddress('127.0.0.1', '198.51.100.60, ::ffff:10.0.0.5', PROXY_AND_BALANCERS)).toBe(
      '198.51.100.60',
    );
  });
});

describe('a header with more entries than any chain of proxies', () => {
  const trustAll10 = trustedProxyMatcher(['127.0.0.1', '10.0.0.0/8']);
  const hops = (n: number) =>
    Array.from({ length: n }, (_, i) => `10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`);

  it(`reads at most ${MAX_PROXY_HOPS} entries, then counts the last trusted hop`, () => {
    const header = ['203.0.113.1', ...hops(MAX_PROXY_HOPS)].join(', ');
    // The 16 entries nearest the socket are all trusted: the walk stops at the 16th from the right.
    expect(clientAddress('127.0.0.1', header, trustAll10)).toBe(hops(MAX_PROXY_HOPS)[0]);
  });

  it(`still finds a client within ${MAX_PROXY_HOPS} hops`, () => {
    const header = ['203.0.113.1', ...hops(MAX_PROXY_HOPS - 1)].join(', ');
    expect(clientAddress('127.0.0.1', header, trustAll10)).toBe('203.0.113.1');
  });

  it("takes a header of thousands of trusted entries (about what fits in Node's 16 KiB of headers)", () => {
    const header = Array.from({ length: 1200 }, () => '10.1.2.3').join(',');
    expect(clientAddress('127.0.0.1', header, trustAll10)).toBe('10.1.2.3');
  });
});

describe('a socket without an address', () => {
  it('counts as the empty address and ignores the header', () => {
    expect(clientAddress(undefined, '198.51.100.60', LOOPBACK_PROXY)).toBe('');
  });
});

describe('canonicalAddress', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    ['2001:DB8:0000::1', '2001:db8::1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::ffff:0:1', '0.0.0.1'],
    ['::1', '::1'],
    ['FE80::1%eth0', 'fe80::1%eth0'],
  ])('%s → %s', (input, expected) => {
    expect(canonicalAddress(input)).toBe(expected);
  });
});

describe('trustedProxyMatcher', () => {
  it('matches addresses and CIDR ranges of both families, and nothing else', () => {
    const trusted = trustedProxyMatcher(['127.0.0.1', '10.20.0.0/16', '::1', 'fd00::/8']);
    expect(
      ['127.0.0.1', '10.20.255.1', '::1', 'fd12::1', '127.0.0.2', '10.21.0.1', '::2', 'fe80::1'].map(trusted),
    ).toEqual([true, true, true, true, false, false, false, false]);
  });
});
