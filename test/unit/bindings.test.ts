import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import { describe, it } from 'node:test';

import { resolveBinding } from '../../src/config/bindings';
import { endpointOf } from '../../src/transport/socket-options';
import { ConfigError } from '../../src/config/errors';

function v4(address: string, internal = false): NetworkInterfaceInfo {
  return { address, netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal, cidr: `${address}/8` };
}

function v6(address: string, internal = false): NetworkInterfaceInfo {
  return { address, netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '00:00:00:00:00:00', internal, cidr: `${address}/64`, scopeid: 0 };
}

/** The same shape as os.networkInterfaces(); loopback first, as on Linux. */
const interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = {
  lo: [v4('127.0.0.1', true), v6('::1', true)],
  eth0: [v6('fe80::1'), v4('192.168.1.10')],
  eth1: [v4('10.0.0.5'), v6('2001:db8::5')],
  wlan0: [v6('2001:db8::9')],
};

function assertConfigError(value: string, pattern?: RegExp, ifaces = interfaces): void {
  assert.throws(
    () => resolveBinding('bindings.router', value, ifaces),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `expected a ConfigError for ${value}, got ${String(error)}`);
      assert.equal(error.key, 'bindings.router');
      assert.match(error.message, /"bindings\.router"/);
      if (pattern) assert.match(error.message, pattern);
      return true;
    },
    `expected ${value} to be rejected`,
  );
}

describe('resolveBinding', () => {
  it('_site_:ipv4 picks the first non-internal IPv4 address', () => {
    assert.deepEqual(resolveBinding('bindings.router', 'tcp://[_site_:ipv4]:7510', interfaces), {
      host: '192.168.1.10',
      port: 7510,
      family: 'ipv4',
    });
  });

  it('_site_:ipv6 picks the first non-internal IPv6 address', () => {
    assert.deepEqual(resolveBinding('bindings.pub', 'tcp://[_site_:ipv6]:7511', interfaces), {
      host: 'fe80::1',
      port: 7511,
      family: 'ipv6',
    });
  });

  it('an interface name picks that interface address of the family', () => {
    assert.deepEqual(resolveBinding('k', 'tcp://[eth0:ipv4]:7510', interfaces), { host: '192.168.1.10', port: 7510, family: 'ipv4' });
    assert.deepEqual(resolveBinding('k', 'tcp://[eth1:ipv4]:7510', interfaces), { host: '10.0.0.5', port: 7510, family: 'ipv4' });
    assert.deepEqual(resolveBinding('k', 'tcp://[eth1:ipv6]:1', interfaces), { host: '2001:db8::5', port: 1, family: 'ipv6' });
  });

  it('an internal interface can be named explicitly', () => {
    assert.deepEqual(resolveBinding('k', 'tcp://[lo:ipv6]:7511', interfaces), { host: '::1', port: 7511, family: 'ipv6' });
    assert.deepEqual(resolveBinding('k', 'tcp://[lo:ipv4]:7511', interfaces), { host: '127.0.0.1', port: 7511, family: 'ipv4' });
  });

  it('accepts an IP literal given with its family', () => {
    assert.deepEqual(resolveBinding('k', 'tcp://[10.0.0.5:ipv4]:7510', interfaces), { host: '10.0.0.5', port: 7510, family: 'ipv4' });
    // Not on any interface: still accepted as a literal (e.g. a NAT address).
    assert.deepEqual(resolveBinding('k', 'tcp://[172.16.0.1:ipv4]:7510', interfaces), { host: '172.16.0.1', port: 7510, family: 'ipv4' });
  });

  it('accepts a plain address and port', () => {
    assert.deepEqual(resolveBinding('k', 'tcp://127.0.0.1:7511', interfaces), { host: '127.0.0.1', port: 7511, family: 'ipv4' });
    assert.deepEqual(resolveBinding('k', '  tcp://10.0.0.5:0  ', interfaces), { host: '10.0.0.5', port: 0, family: 'ipv4' });
  });

  it('refuses a wildcard host, which peers cannot be given to connect to, naming the key and what to write instead', () => {
    for (const value of ['tcp://0.0.0.0:7510', 'tcp://*:7510', 'tcp://[::]:7510', 'tcp://[::0]:7510', 'tcp://[0:0:0:0:0:0:0:0]:7510', 'tcp://[::0.0.0.0]:7510', 'tcp://[::ffff:0.0.0.0]:7510']) assertConfigError(value, /binds every interface.*tcp:\/\/\[eth0:ipv4\]:7510/);
  });

  it('accepts a bracketed IPv6 literal', () => {
    assert.deepEqual(resolveBinding('k', 'tcp://[::1]:7511', interfaces), { host: '::1', port: 7511, family: 'ipv6' });
    assert.deepEqual(resolveBinding('k', 'tcp://[2001:db8::7]:65535', interfaces), { host: '2001:db8::7', port: 65535, family: 'ipv6' });
  });

  it('uses the machine interfaces by default', () => {
    assert.deepEqual(resolveBinding('k', 'tcp://127.0.0.1:7511'), { host: '127.0.0.1', port: 7511, family: 'ipv4' });
  });

  it('rejects bad syntax with a ConfigError naming the key', () => {
    for (const value of [
      '',
      '127.0.0.1:7510',
      'udp://127.0.0.1:7510',
      'tcp://127.0.0.1',
      'tcp://127.0.0.1:',
      'tcp://127.0.0.1:port',
      'tcp://:7510',
      'tcp://[]:7510',
      'tcp://[_site_:ipv4]',
      'tcp://[_site_:ipv4:7510',
      'tcp://127.0.0.1:7510/path',
      'tcp://::1:7510',
      'tcp://127.0.0.1:-1',
    ]) {
      assertConfigError(value, /is not of the form/);
    }
  });

  it('rejects a port out of range', () => {
    assertConfigError('tcp://127.0.0.1:65536', /out of range/);
    assertConfigError('tcp://[_site_:ipv4]:99999', /out of range/);
  });

  it('rejects an unknown interface', () => {
    assertConfigError('tcp://[eth9:ipv4]:7510', /eth9/);
    assertConfigError('tcp://[not-an-interface:ipv6]:7510', /not-an-interface/);
  });

  it('rejects a family the interface or the machine does not have', () => {
    assertConfigError('tcp://[wlan0:ipv4]:7510', /no ipv4 address found for "wlan0"/);
    const v4only = { lo: [v4('127.0.0.1', true)], eth0: [v4('192.168.1.10')] };
    assertConfigError('tcp://[_site_:ipv6]:7510', /no ipv6 address/, v4only);
    assertConfigError('tcp://[eth0:ipv6]:7510', /no ipv6 address/, v4only);
    // Only internal addresses: _site_ finds nothing.
    assertConfigError('tcp://[_site_:ipv4]:7510', /_site_/, { lo: [v4('127.0.0.1', true)] });
    assertConfigError('tcp://[_site_:ipv4]:7510', /_site_/, {});
  });

  it('rejects an IP literal of another family than the one given', () => {
    assertConfigError('tcp://[10.0.0.5:ipv6]:7510', /no ipv6 address found for "10.0.0.5"/);
    assertConfigError('tcp://[2001:db8::5:ipv4]:7510', /no ipv4 address/);
    assert.deepEqual(resolveBinding('k', 'tcp://[2001:db8::5:ipv6]:7510', interfaces), { host: '2001:db8::5', port: 7510, family: 'ipv6' });
  });

  it('rejects what is neither an IP literal nor an interface', () => {
    assertConfigError('tcp://[999.1.1:ipv4]:7510');
    assertConfigError('tcp://[1..2:ipv4]:7510');
    assertConfigError('tcp://[host-name]:7510', /neither an IPv6 address/);
    assertConfigError('tcp://[10.0.0.5]:7510', /neither an IPv6 address/);
  });
});

describe('endpointOf (transport) with resolveBinding', () => {
  it('formats IPv4 and host names as is, brackets IPv6, binds a free port for 0', () => {
    assert.equal(endpointOf('192.168.1.10', 7510), 'tcp://192.168.1.10:7510');
    assert.equal(endpointOf('kuzzle-1', 1), 'tcp://kuzzle-1:1');
    assert.equal(endpointOf('::1', 7511), 'tcp://[::1]:7511');
    assert.equal(endpointOf('2001:db8::5', 0), 'tcp://[2001:db8::5]:*');
  });

  it('round-trips with resolveBinding', () => {
    for (const value of ['tcp://127.0.0.1:7511', 'tcp://[::1]:7511', 'tcp://[2001:db8::7]:1']) {
      const { host, port } = resolveBinding('k', value, interfaces);
      assert.equal(endpointOf(host, port), value);
    }
  });
});
