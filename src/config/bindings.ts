import { isIP } from 'net';
import { networkInterfaces, type NetworkInterfaceInfo } from 'os';
import { isWildcard } from '../transport/socket-options';
import { ConfigError } from './errors';
import { kindOf } from './values';

/** A resolved socket address: what to bind and what peers connect to. */
export interface ResolvedBinding {
  host: string;
  port: number;
  family: 'ipv4' | 'ipv6';
}

type Interfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;

const BINDING = /^tcp:\/\/(\[[^\]]+\]|[^:[\]]+):(\d+)$/;

/**
 * Resolves `tcp://[<interface|ip|_site_>:<ipv4|ipv6>]:<port>`, `tcp://<ip>:<port>`
 * or `tcp://[<ipv6>]:<port>`. `_site_` stands for the first non-internal
 * address of the machine; an interface name for that interface's address.
 */
export function resolveBinding(key: string, value: string, interfaces: Interfaces = networkInterfaces()): ResolvedBinding {
  const binding = resolve(key, value, interfaces);
  // The bound address is also the one peers are given: a wildcard reaches no node.
  if (isWildcard(binding.host)) {
    throw new ConfigError(key, `binds every interface ("${binding.host}"), which peers cannot connect to: name an interface or address, such as tcp://[eth0:ipv4]:${binding.port} or tcp://[_site_:ipv4]:${binding.port}`);
  }
  return binding;
}

function resolve(key: string, value: string, interfaces: Interfaces): ResolvedBinding {
  const match = BINDING.exec(value.trim());
  if (!match) {
    throw new ConfigError(key, `${kindOf(value)} that is not of the form tcp://[<interface|ip|_site_>:<ipv4|ipv6>]:<port>`);
  }
  const [, hostPart = '', portText = ''] = match;
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(key, 'the port is out of range (0 to 65535)');
  }
  if (!hostPart.startsWith('[')) {
    return { host: hostPart, port, family: 'ipv4' };
  }
  const inner = hostPart.slice(1, -1);
  const familyMatch = /^(.+):(ipv4|ipv6)$/.exec(inner);
  if (!familyMatch) {
    // A bracketed IPv6 literal such as [::1].
    if (isIP(inner) !== 6) throw new ConfigError(key, 'the bracketed host is neither an IPv6 address nor <interface|ip|_site_>:<ipv4|ipv6>');
    return { host: inner, port, family: 'ipv6' };
  }
  const [, name = '', family = 'ipv4'] = familyMatch;
  const wanted = family === 'ipv6' ? 'IPv6' : 'IPv4';
  const host = findAddress(name, wanted, interfaces);
  if (!host) {
    // The name is shown: only a value already of the form tcp://[name:family]:port gets here.
    throw new ConfigError(key, `no ${family} address found for "${name}"`);
  }
  return { host, port, family: family as 'ipv4' | 'ipv6' };
}

function findAddress(name: string, family: 'IPv4' | 'IPv6', interfaces: Interfaces): string | undefined {
  const sameFamily = (info: NetworkInterfaceInfo): boolean => info.family === family;
  if (name === '_site_') {
    for (const infos of Object.values(interfaces)) {
      const found = infos?.find((info) => sameFamily(info) && !info.internal);
      if (found) return found.address;
    }
    return undefined;
  }
  const byInterface = interfaces[name]?.find(sameFamily);
  if (byInterface) return byInterface.address;
  // Not an interface: an IP literal given with its family (and of that family).
  return isIP(name) === (family === 'IPv4' ? 4 : 6) ? name : undefined;
}
