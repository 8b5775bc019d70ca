import type { PeerAnswer } from '../../bus/message-bus';
import type { BodyOf, BroadcastTypes, ReplyOf, RequestTypes } from '../../bus/message-spec';
import type { MemberChannel } from '../../cluster/member-channel';
import { ClusterError } from '../../util/cluster-error';
import { delay } from '../../util/delay';
import { describeError } from '../../util/describe-error';
import type { Log } from '../../util/log';
import type { KuzzleMessages } from './messages';

/** Timers of the Kuzzle-wide sync. */
export interface KuzzleChannelTimers {
  /** How long an acknowledged change waits for every peer. */
  stateAckMs: number;
  /** How long one peer has to answer a catch-up question. */
  questionMs: number;
  /** Pauses before asking again a member that did not apply a change (tests shorten them). */
  resendPausesMs?: readonly number[];
}

/** Asking again a member that missed a change: five times over about 30 s (plus each try's wait for an answer), in growing pauses. */
const RESEND_PAUSES_MS: readonly number[] = [1000, 2000, 4000, 8000, 15_000];

/**
 * Changes that stay right when a peer applies them late, after later ones:
 * dropping cached rights or reloading specifications reads the current
 * state, a revoked token is only dropped if the shared store no longer
 * has it, and a refresh moves what still uses the old token to the newest
 * one recorded. Not an index added or removed: applied late, after the opposite
 * change, it would bring back a deleted index (or forget a new one).
 */
const REPLAYABLE: ReadonlySet<string> = new Set(['kuzzle:security:invalidate', 'kuzzle:validation:reload', 'kuzzle:token:revoke', 'kuzzle:token:recheck', 'kuzzle:token:refresh']);

/** Changes retried at once, at most. */
const MAX_RETRIED_CHANGES = 256;

/** Refusals that asking again cannot change: the peer does not know the message or its form. */
const FINAL_REFUSALS = new Set(['KPC_UNKNOWN_TYPE', 'KPC_WRONG_KIND', 'KPC_MALFORMED']);

/**
 * How the Kuzzle-wide sync modules talk to their peers. Created before the
 * messages are registered (each module declares its handlers first), then
 * bound to the cluster's member channel.
 */
export class KuzzleChannel {
  private channel: MemberChannel<KuzzleMessages> | undefined;
  /** Acknowledged sends not settled yet (see {@link settled}). */
  private readonly outstanding = new Set<Promise<void>>();
  /** Changes being asked again, by type and body: the members still to apply each. */
  private readonly retried = new Map<string, Set<string>>();

  constructor(
    readonly log: Log,
    private readonly timers: KuzzleChannelTimers,
  ) {}

  bind(channel: MemberChannel<KuzzleMessages>): void {
    this.channel = channel;
  }

  private get bound(): MemberChannel<KuzzleMessages> {
    if (!this.channel) throw new ClusterError('KPC_NOT_STARTED', 'the cluster is not started');
    return this.channel;
  }

  /**
   * Tells every peer. Never rejects: a change that fails to propagate is
   * logged rather than failing the client's request, which already succeeded
   * on this node.
   */
  async publish<T extends BroadcastTypes<KuzzleMessages>>(type: T, body: BodyOf<KuzzleMessages[T]>): Promise<void> {
    try {
      await this.bound.publish(type, body);
    } catch (error) {
      this.log('error', `could not broadcast ${type}: ${describeError(error)}`);
    }
  }

  /** Tells every peer; rejects when the message cannot be sent (larger than `maxMessageBytes`, cluster not started), for a caller that can act on it. */
  async publishOrFail<T extends BroadcastTypes<KuzzleMessages>>(type: T, body: BodyOf<KuzzleMessages[T]>): Promise<void> {
    await this.bound.publish(type, body);
  }

  /**
   * Tells every member and waits until each has applied the change (or
   * failed to answer within `timers.stateAck`). Used where the next request
   * may land on any node: rights, tokens, specifications, indexes. Never rejects.
   * A member that did not apply a change that stays right when applied late
   * (see {@link REPLAYABLE}) is asked again in the background: a request
   * carries no sequence number, so nothing else would tell that member it
   * missed one.
   */
  send<T extends RequestTypes<KuzzleMessages>>(type: T, body: BodyOf<KuzzleMessages[T]>): Promise<void> {
    const channel = this.bound;
    const sending = channel.requestMembers(type, body, this.timers.stateAckMs).then((answers) => {
      const missed = this.missedBy(type, answers);
      if (missed.length > 0 && REPLAYABLE.has(type)) this.askAgain(channel, type, body, missed);
    });
    this.outstanding.add(sending);
    void sending.finally(() => this.outstanding.delete(sending));
    return sending;
  }

  /** The members that did not apply a change and may if asked again; logs each. */
  private missedBy(type: string, answers: ReadonlyArray<PeerAnswer<unknown>>): string[] {
    const missed: string[] = [];
    for (const { peer, error } of answers) {
      if (error === undefined) continue;
      this.log('warn', `${peer} did not apply ${type}: ${describeError(error)}`);
      // A peer that does not know the message (another build) will not know it next time either.
      if (!(error instanceof ClusterError && FINAL_REFUSALS.has(error.code))) missed.push(peer);
    }
    return missed;
  }

  /**
   * Asks again the members that missed a change, after growing pauses; the
   * same change missed again (by other members, or sent again meanwhile)
   * joins the retry under way, and at most {@link MAX_RETRIED_CHANGES} are
   * retried at once (a long outage of one peer must not grow them: it is
   * evicted, and catches up when it joins again).
   */
  private askAgain<T extends RequestTypes<KuzzleMessages>>(channel: MemberChannel<KuzzleMessages>, type: T, body: BodyOf<KuzzleMessages[T]>, peers: string[]): void {
    const key = `${type}\n${JSON.stringify(body)}`;
    const waiting = this.retried.get(key);
    if (waiting) {
      for (const peer of peers) waiting.add(peer);
      return;
    }
    if (this.retried.size >= MAX_RETRIED_CHANGES) {
      this.log('error', `${peers.join(', ')} did not apply ${type}, not asked again (${MAX_RETRIED_CHANGES} changes are being retried already)`);
      return;
    }
    const missed = new Set(peers);
    this.retried.set(key, missed);
    const done = (): void => {
      if (this.retried.get(key) === missed) this.retried.delete(key);
    };
    void this.retry(channel, type, body, missed, done).finally(done);
  }

  /** `lastTry` runs before the last try: a peer missing the change after that starts a retry of its own. */
  private async retry<T extends RequestTypes<KuzzleMessages>>(
    channel: MemberChannel<KuzzleMessages>,
    type: T,
    body: BodyOf<KuzzleMessages[T]>,
    missed: Set<string>,
    lastTry: () => void,
  ): Promise<void> {
    const pauses = this.timers.resendPausesMs ?? RESEND_PAUSES_MS;
    for (const [i, pause] of pauses.entries()) {
      // Jittered: the changes a peer missed together are not all asked again at once.
      await delay(pause * (0.75 + Math.random() / 2), { unref: true });
      if (i === pauses.length - 1) lastTry();
      const asked = [...missed];
      missed.clear();
      for (const peer of this.missedBy(type, await channel.requestSome(asked, type, body, this.timers.stateAckMs))) missed.add(peer);
      if (missed.size === 0) return;
    }
    const names = [...missed];
    this.log('error', `${names.join(', ')} still did not apply ${type}: a request on ${names.length > 1 ? 'those nodes' : 'that node'} may see the state from before it until ${names.length > 1 ? 'they catch' : 'it catches'} up (after a rejoin or a lost broadcast)`);
  }

  /** Resolves once every acknowledged send started so far has settled. */
  async settled(): Promise<void> {
    await Promise.all([...this.outstanding]);
  }

  /**
   * Asks one member (any that answers, retried until `deadlineMs`).
   * Undefined when the cluster has no other member.
   *
   * @throws ClusterError KPC_NO_ANSWER when members exist but none answered.
   */
  async ask<T extends RequestTypes<KuzzleMessages>>(
    type: T,
    body: BodyOf<KuzzleMessages[T]>,
    deadlineMs: number,
  ): Promise<ReplyOf<KuzzleMessages[T]> | undefined> {
    return (await this.bound.requestAnyMember(type, body, this.timers.questionMs, deadlineMs))?.reply;
  }
}
