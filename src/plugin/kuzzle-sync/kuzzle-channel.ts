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

/** Asking again a member that missed a change: about 30 s in all, in growing pauses. */
const RESEND_PAUSES_MS: readonly number[] = [1000, 2000, 4000, 8000, 15_000];

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

  /**
   * Tells every member and waits until each has applied the change (or
   * failed to answer within `timers.stateAck`). Used where the next request
   * may land on any node: rights, tokens, specifications, indexes. Never rejects.
   * A member that did not apply it is asked again in the background (every
   * one of these changes can be applied twice): a request carries no
   * sequence number, so nothing else would tell that member it missed one.
   */
  send<T extends RequestTypes<KuzzleMessages>>(type: T, body: BodyOf<KuzzleMessages[T]>): Promise<void> {
    const channel = this.bound;
    const sending = channel.requestMembers(type, body, this.timers.stateAckMs).then((answers) => {
      const missed = this.missedBy(type, answers);
      if (missed.length > 0) void this.askAgain(channel, type, body, missed);
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

  private async askAgain<T extends RequestTypes<KuzzleMessages>>(
    channel: MemberChannel<KuzzleMessages>,
    type: T,
    body: BodyOf<KuzzleMessages[T]>,
    peers: string[],
  ): Promise<void> {
    let missed = peers;
    for (const pause of this.timers.resendPausesMs ?? RESEND_PAUSES_MS) {
      await delay(pause, { unref: true });
      missed = this.missedBy(type, await channel.requestSome(missed, type, body, this.timers.stateAckMs));
      if (missed.length === 0) return;
    }
    this.log('error', `${missed.join(', ')} still did not apply ${type}: a request on ${missed.length > 1 ? 'those nodes' : 'that node'} may see the state from before it until ${missed.length > 1 ? 'they catch' : 'it catches'} up (after a rejoin or a lost broadcast)`);
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
