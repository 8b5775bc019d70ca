/** Everything a run is parameterised by; recorded in the results. */
export interface BenchParams {
  mode: 'quick' | 'full';
  /** Load worker processes. */
  workers: number;
  latency: { rates: number[]; warmupMs: number; durationMs: number };
  throughput: { subscribers: number; publishWindow: number; durationMs: number };
  subscribe: { rooms: number; clientsPerWorker: number; window: number };
  fanout: { connections: number; roomsPerConnection: number; rounds: number };
  scale: { levels: number[]; clientsPerWorker: number; window: number; listCalls: number; countCalls: number };
  kill: { repetitions: number };
}

export function paramsFor(mode: 'quick' | 'full', workers: number): BenchParams {
  if (mode === 'quick') {
    return {
      mode,
      workers,
      latency: { rates: [200, 1000], warmupMs: 1000, durationMs: 3000 },
      throughput: { subscribers: 100, publishWindow: 10, durationMs: 3000 },
      subscribe: { rooms: 1000, clientsPerWorker: 2, window: 20 },
      fanout: { connections: 50, roomsPerConnection: 20, rounds: 2 },
      scale: { levels: [0, 3000], clientsPerWorker: 2, window: 50, listCalls: 5, countCalls: 50 },
      kill: { repetitions: 1 },
    };
  }
  return {
    mode,
    workers,
    latency: { rates: [200, 1000], warmupMs: 2000, durationMs: 20_000 },
    throughput: { subscribers: 100, publishWindow: 10, durationMs: 15_000 },
    subscribe: { rooms: 10_000, clientsPerWorker: 3, window: 20 },
    fanout: { connections: 500, roomsPerConnection: 20, rounds: 5 },
    scale: { levels: [0, 10_000, 50_000, 100_000], clientsPerWorker: 3, window: 50, listCalls: 20, countCalls: 300 },
    kill: { repetitions: 3 },
  };
}
