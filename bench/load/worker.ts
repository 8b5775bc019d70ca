import { LoadState } from './operations';
import type { Command, Reply, Request } from './protocol';

/**
 * A load worker: a child process forked by {@link WorkerPool}, running the
 * commands it receives over IPC one after another and answering each.
 */
const state = new LoadState();

async function run(command: Command): Promise<unknown> {
  switch (command.type) {
    case 'connect':
      return state.connect(command);
    case 'subscribe':
      return state.subscribe(command);
    case 'unsubscribe':
      return state.unsubscribe(command);
    case 'arm':
      state.recorder(command.tag).arm(command.from, command.to);
      return {};
    case 'collect':
      return state.recorder(command.tag).take();
    case 'waitCount': {
      const recorder = state.recorder(command.tag);
      await recorder.waitCount(command.expected, command.timeoutMs);
      return recorder.take();
    }
    case 'publish':
      return state.publish(command);
    case 'flood':
      return state.flood(command);
    case 'disconnect':
      state.disconnect();
      return {};
    case 'cpu':
      return process.cpuUsage();
  }
}

process.on('message', (request: Request) => {
  run(request).then(
    (result) => process.send?.({ id: request.id, ok: true, result } satisfies Reply),
    (error: unknown) => process.send?.({ id: request.id, ok: false, error: error instanceof Error ? error.message : String(error) } satisfies Reply),
  );
});
// The orchestrator gone (crashed, or killed): nothing left to measure for.
process.on('disconnect', () => process.exit(0));
