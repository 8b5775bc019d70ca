import { createInterface } from 'node:readline';
import { managedProcesses } from './managed-process';
import { Stack } from './stack';
import { rebuildOnChange } from './watch-rebuild';

/**
 * `node dist/test/harness/cli.js start [--nodes N] [--lb-port P] [--watch]`: starts the
 * stack and reads commands on stdin until `stop`, Ctrl-C, SIGTERM or SIGHUP:
 *   status | kill N | freeze N | thaw N | stop-node N | start-node N | restart N | add | stop
 * Everything started is stopped on exit.
 */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const option = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  if (args[0] !== 'start') {
    console.log('usage: cli.js start [--nodes N] [--lb-port PORT] [--watch]');
    process.exit(2);
  }
  const stack = new Stack({
    nodes: Number(option('--nodes') ?? 3),
    lbPort: option('--lb-port') ? Number(option('--lb-port')) : undefined,
    log: (message) => console.log(`[stack] ${message}`),
  });
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= stack.stop().then(() => console.log('[stack] stopped'));
    return stopping;
  };
  // Installed before booting: Ctrl-C during start-up stops what was started.
  // SIGHUP too: closing the terminal of dev.sh must not leave the stack running.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => void stop().then(() => process.exit(0)));
  }
  try {
    await stack.boot();
  } catch (error) {
    await stop();
    throw error;
  }
  if (args.includes('--watch')) rebuildOnChange(stack, (message) => console.log(`[stack] ${message}`));
  console.log(`[stack] ready: ${stack.lb?.url}/_plugin/cluster/status (commands: status, kill N, freeze N, thaw N, restart N, add, stop)`);
  if (process.env.KPC_STACK_READY_FILE) {
    const { writeFileSync } = await import('node:fs');
    const ports = stack.nodes.flatMap((n) => [n.settings.ports.http, n.settings.ports.router, n.settings.ports.pub]);
    writeFileSync(
      process.env.KPC_STACK_READY_FILE,
      JSON.stringify({
        lb: stack.lb?.url,
        nodes: stack.nodes.map((n) => n.url),
        processGroups: managedProcesses().map((p) => p.pid),
        ports: [...ports, stack.redis?.port, stack.lb?.port].filter((p) => p !== undefined),
      }),
    );
  }
  const input = createInterface({ input: process.stdin });
  input.on('line', (line) => void run(stack, line.trim()).catch((error: Error) => console.log(`[stack] ${error.message}`)));
  input.on('close', () => {
    // stdin closed (e.g. started in the background): keep running until a signal.
  });

  async function run(s: Stack, line: string): Promise<void> {
    const [command, arg] = line.split(/\s+/);
    const node = (): ReturnType<Stack['node']> => s.node(Number(arg));
    switch (command) {
      case '':
        return;
      case 'status':
        for (const n of s.nodes) console.log(`${n.name} ${n.url} ${n.alive ? 'running' : 'stopped'}`);
        return;
      case 'kill':
        await node().kill();
        break;
      case 'freeze':
        node().freeze();
        break;
      case 'thaw':
        node().thaw();
        break;
      case 'stop-node':
        await node().stop();
        break;
      case 'start-node':
        node().start();
        await node().waitReady();
        break;
      case 'restart':
        await node().restart();
        break;
      case 'add':
        await s.addNode();
        break;
      case 'stop':
        await stop();
        process.exit(0);
        return;
      default:
        console.log(`unknown command ${command}`);
        return;
    }
    console.log(`[stack] ${line}: done`);
  }
}

main().catch((error: Error) => {
  console.error(error.message);
  process.exit(1);
});
