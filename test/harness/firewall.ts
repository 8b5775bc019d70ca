import { execFileSync } from 'node:child_process';

/**
 * Cuts links between nodes with iptables: nodes bind their cluster sockets
 * on distinct loopback addresses (see `StackOptions.distinctClusterHosts`),
 * and packets between two addresses are dropped both ways, as a broken
 * network would. Rules live in a chain of this test process, removed on
 * {@link remove} and on exit.
 */
export class Firewall {
  private readonly chain = `KPC-${process.pid}`;
  private installed = false;

  private iptables(...args: string[]): void {
    execFileSync('iptables', ['-w', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  }

  private install(): void {
    if (this.installed) return;
    this.iptables('-N', this.chain);
    this.iptables('-I', 'INPUT', '-j', this.chain);
    this.installed = true;
    process.once('exit', () => this.remove());
  }

  /** Drops every packet between the two addresses, both ways. */
  cut(a: string, b: string): void {
    this.install();
    this.iptables('-A', this.chain, '-s', a, '-d', b, '-j', 'DROP');
    this.iptables('-A', this.chain, '-s', b, '-d', a, '-j', 'DROP');
  }

  /** Cuts every link between the two groups. */
  partition(groupA: readonly string[], groupB: readonly string[]): void {
    for (const a of groupA) for (const b of groupB) this.cut(a, b);
  }

  /** Lets everything through again. */
  heal(): void {
    if (this.installed) this.iptables('-F', this.chain);
  }

  remove(): void {
    if (!this.installed) return;
    this.installed = false;
    try {
      this.iptables('-D', 'INPUT', '-j', this.chain);
      this.iptables('-F', this.chain);
      this.iptables('-X', this.chain);
    } catch {
      // Already gone.
    }
  }
}
