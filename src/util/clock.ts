import { performance } from 'perf_hooks';

/**
 * Milliseconds on a clock that never steps back, unlike `Date.now()`, which
 * NTP or a resumed virtual machine may set back by seconds: for the
 * durations that judge peers (silence, pauses, pacing), never for dates
 * shown to operators. An object, so that a test can drive it.
 */
export const clock = { now: (): number => performance.now() };
