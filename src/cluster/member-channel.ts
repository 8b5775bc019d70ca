import type { Channel, PeerAnswer } from '../bus/message-bus';
import type { BodyOf, BroadcastTypes, MessageMap, ReplyOf, RequestTypes } from '../bus/message-spec';
import { ClusterError } from '../util/cluster-error';
import { describeError } from '../util/describe-error';
import { delay } from '../util/delay';

/** How long {@link MemberChannel.requestAnyMember} waits between two rounds. */
const RETRY_DELAY_MS = 200;

/**
 * A channel whose requests go to the cluster's current members: what the
 * Kuzzle glue uses to keep Kuzzle-wide state in step.
 */
export class MemberChannel<M extends MessageMap> {
  constructor(
    private readonly channel: Channel<M>,
    private readonly members: () => string[],
  ) {}

  publish<T extends BroadcastTypes<M>>(type: T, body: BodyOf<M[T]>): Promise<void> {
    return this.channel.publish(type, body);
  }

  /** One request to every member, answered or failed each; never rejects. */
  requestMembers<T extends RequestTypes<M>>(type: T, body: BodyOf<M[T]>, timeoutMs: number): Promise<Array<PeerAnswer<ReplyOf<M[T]>>>> {
    return this.channel.requestEach(this.members(), type, body, timeoutMs);
  }

  /** {@link requestMembers} to those of `peers` that are still members. */
  requestSome<T extends RequestTypes<M>>(peers: readonly string[], type: T, body: BodyOf<M[T]>, timeoutMs: number): Promise<Array<PeerAnswer<ReplyOf<M[T]>>>> {
    const members = new Set(this.members());
    return this.channel.requestEach(peers.filter((peer) => members.has(peer)), type, body, timeoutMs);
  }

  /**
   * Asks members one after the other until one answers, in rounds, until
   * `deadlineMs` has passed. Resolves with no answer when there is no other
   * member (nothing to ask); rejects when members exist but none answered,
   * so that a catch-up never silently comes back empty.
   */
  async requestAnyMember<T extends RequestTypes<M>>(
    type: T,
    body: BodyOf<M[T]>,
    timeoutMs: number,
    deadlineMs: number,
  ): Promise<{ peer: string; reply: ReplyOf<M[T]> } | undefined> {
    const deadline = Date.now() + deadlineMs;
    const failures: string[] = [];
    for (;;) {
      const peers = this.members();
      if (peers.length === 0) return undefined;
      for (const peer of peers) {
        try {
          return { peer, reply: await this.channel.request(peer, type, body, timeoutMs) };
        } catch (error) {
          failures.push(`${peer}: ${describeError(error)}`);
        }
      }
      if (Date.now() + RETRY_DELAY_MS >= deadline) {
        throw new ClusterError('KPC_NO_ANSWER', `no member answered "${type}" (${failures.slice(-peers.length).join('; ')})`);
      }
      await delay(RETRY_DELAY_MS);
    }
  }
}
