import { createHmac, generateKeyPairSync, timingSafeEqual } from 'crypto';
import type { Sender } from '../bus/message-spec';
import { agreedKey } from '../transport/key-agreement';
import { z85Encode } from '../util/z85';
import type { NodeCard } from './node-card';
import { RecentMap } from '../util/recent-map';

const LABEL = 'kpc request v3';
/** Unknown senders looked up in the card store per second, at most: forged ids must not turn into a Redis flood. */
const LOOKUPS_PER_SECOND = 20;

/** A fresh X25519 key pair in Z85, as CURVE keys are written. */
function newKeyPair(): { publicKey: string; secretKey: string } {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  return {
    publicKey: z85Encode(publicKey.export({ format: 'der', type: 'spki' }).subarray(-32)),
    secretKey: z85Encode(privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32)),
  };
}

interface Known {
  identityKey: string;
  /** The key agreed with it, computed on first use. */
  key?: Buffer;
}

/**
 * Who sent a request. Each node makes a key pair at start and puts the
 * public half in its card (sealed with CURVE: a Redis writer cannot swap
 * it). A request carries a MAC under the key agreed between the sender's
 * and the receiver's identity keys, so only the node a card describes can
 * send requests in its name, whatever routing id or connection it uses,
 * and even if it holds the cluster key.
 */
export class NodeIdentities {
  readonly own = newKeyPair();
  // Bounded: without CURVE, cards are whatever Redis holds.
  private readonly known = new RecentMap<string, Known>(10_000);
  private lookups = { second: 0, count: 0 };

  /** `lookup`: a trusted card, for a sender not met yet. */
  constructor(private readonly lookup: (id: string) => Promise<NodeCard | undefined>) {}

  /** A trusted card: its node's identity key (the card store refuses a card that would change it). */
  remember(card: NodeCard): void {
    if (card.identityKey === undefined) return;
    if (this.known.get(card.id)?.identityKey === card.identityKey) return;
    this.known.set(card.id, { identityKey: card.identityKey });
  }

  /** The MAC of a request to `peerId`; undefined when its identity is not known (the peer will refuse it). */
  sign(peerId: string, input: Buffer | string): string | undefined {
    const key = this.keyOf(peerId);
    return key ? mac(key, input) : undefined;
  }

  /** Whether a request's MAC proves `sender` sent it; a sender not known yet is looked up (rate-limited). */
  verify(sender: Sender, input: Buffer | string, given: string | undefined): boolean | Promise<boolean> {
    if (given === undefined) return false;
    const key = this.keyOf(sender.id);
    if (key && matches(key, input, given)) return true;
    if (!this.mayLookUp()) return false;
    // Unknown, or known under another identity key than the one it used (a card renewed since).
    return this.lookup(sender.id).then(
      (card) => {
        if (!card) return false;
        this.remember(card);
        const fresh = this.keyOf(sender.id);
        return fresh !== undefined && matches(fresh, input, given);
      },
      () => false,
    );
  }

  private keyOf(id: string): Buffer | undefined {
    const known = this.known.get(id);
    if (!known) return undefined;
    try {
      known.key ??= agreedKey(this.own.secretKey, known.identityKey, LABEL);
    } catch {
      return undefined; // a key of low order: no key with it
    }
    return known.key;
  }

  private mayLookUp(): boolean {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.lookups.second) this.lookups = { second, count: 0 };
    this.lookups.count += 1;
    return this.lookups.count <= LOOKUPS_PER_SECOND;
  }
}

const mac = (key: Buffer, input: Buffer | string): string => createHmac('sha256', key).update(input).digest('base64');

function matches(key: Buffer, input: Buffer | string, given: string): boolean {
  const expected = Buffer.from(mac(key, input), 'base64');
  const actual = Buffer.from(given, 'base64');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
