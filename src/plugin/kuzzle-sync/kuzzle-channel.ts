import type { BodyOf, BroadcastTypes, ReplyOf, RequestTypes } from '../../bus/message-spec';
import type { MemberChannel } from '../../cluster/member-channel';
import { ClusterError } from '../../util/cluster-error';
import { describeError } from '../../util/describe-error';
import type { Log } from '../../util/log';
import type { KuzzleMessages } from './messages';

/** Timers of the Kuzzle-wide sync. */
export interface KuzzleChannelTimers {
  /** How long an acknowledged change waits for every peer. */
  stateAckMs: number;
  /** How long one peer has to answer a catch-up question. */
  questionMs: number;
}

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
   */
  send<T extends RequestTypes<KuzzleMessages>>(type: T, body: BodyOf<KuzzleMessages[T]>): Promise<void> {
    const sending = this.bound.requestMembers(type, body, this.timers.stateAckMs).then((answers) => {
      for (const { peer, error } of answers) {
        if (error !== undefined) this.log('warn', `${peer} did not apply ${type}: ${describeError(error)}`);
      }
    });
    this.outstanding.add(sending);
    void sending.finally(() => this.outstanding.delete(sending));
    return sending;
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
