import type { Envelope } from '../transport/envelope';
import type { CardRefusal } from '../membership/card-seal';
import type { CardStore } from '../membership/card-store';
import { NodeIdentities } from '../membership/node-identities';
import { MAX_PINS, PIN_IDLE_MS, SealedCardStore } from '../membership/sealed-card-store';
import { SealedRecords, type UnreadableRecord } from '../state/sealed-records';
import type { SharedRecords } from '../state/shared-records';
import type { Sender } from '../bus/message-spec';
import type { CurveKeys } from '../transport/curve-keys';
import { ClusterError } from '../util/cluster-error';
import { delay } from '../util/delay';
import type { Log } from '../util/log';
import { RecentKeys, RecentMap } from '../util/recent-map';

/** What status shows of what this node refused to trust. */
export interface TrustStats {
  /** Whether cards, records and requests are checked against the cluster's key (CURVE set). */
  sealed: boolean;
  /** Cards read from Redis and not trusted, per reason (each card counted once). */
  refusedCards: Record<CardRefusal, number>;
  /** Shared records skipped, per reason (each record counted once per reason). */
  unreadableRecords: Record<UnreadableRecord, number>;
  /** Nodes of another wire protocol version whose card was read lately, by id. */
  foreignProtocols: Record<string, number>;
}

type TrustCounts = Omit<TrustStats, 'foreignProtocols'>;

/** How long a foreign node stays in status after its card was last read. */
const FOREIGN_SHOWN_MS = 30_000;

const CARD_REFUSALS: Record<CardRefusal, string> = {
  serverKey: 'it names a CURVE server key this node does not accept',
  unsealed: 'it carries no seal for this node\'s cluster key',
  forged: 'its seal does not match its content (forged or altered)',
  identityChanged: 'it gives a known node another identity key (someone holding the cluster key speaking in its name)',
  pinsFull: `this node already pins the identity keys of ${MAX_PINS} node ids, all read in the last ${PIN_IDLE_MS / 60_000} minutes (a flood of cards from someone holding the cluster key?)`,
};

/**
 * What a node trusts, and how it proves itself: its cards sealed with the
 * cluster's key, its requests signed with its own identity key, the shared
 * records sealed at rest. Everything refused is counted and logged once.
 */
export class NodeTrust {
  readonly identities: NodeIdentities;
  readonly cards: SealedCardStore;
  private readonly stats: TrustCounts;
  private readonly records: SealedRecords[] = [];
  // Bounded: a Redis writer planting records must not grow this node's memory without end.
  private readonly reportedRecords = new RecentKeys<string>(10_000);
  private readonly foreign = new RecentMap<string, { protocol: number; seenAt: number }>(1000);

  constructor(
    private readonly store: CardStore,
    private readonly protocol: number,
    private readonly keys: CurveKeys | undefined,
    private readonly log: Log,
  ) {
    this.stats = {
      sealed: keys !== undefined,
      refusedCards: { serverKey: 0, unsealed: 0, forged: 0, identityChanged: 0, pinsFull: 0 },
      unreadableRecords: { unsealed: 0, notForThisKey: 0, forged: 0 },
    };
    this.identities = new NodeIdentities((id) => this.cards.get(id));
    this.cards = new SealedCardStore(store, protocol, keys, {
      refused: (card, why) => {
        this.stats.refusedCards[why] += 1;
        log('warn', `card of ${card.id} (incarnation ${card.incarnation}) ignored: ${CARD_REFUSALS[why]}`);
      },
      foreignProtocol: (card) => {
        if (!this.foreign.has(card.id)) {
          log('error', `${card.id} runs wire protocol ${card.protocol}, this node ${protocol}: they cannot form one cluster (README: Upgrading)`);
        }
        this.foreign.set(card.id, { protocol: card.protocol, seenAt: Date.now() });
      },
      trusted: (card) => this.identities.remember(card),
    });
  }

  /** Whether a request proves it was sent by the node it names. */
  verify(sender: Sender, envelope: Envelope): boolean | Promise<boolean> {
    return envelope.signed ? this.identities.verify(sender, envelope.signed, envelope.mac) : false;
  }

  /** Shared records, sealed at rest with CURVE. */
  sealRecords(inner: SharedRecords, name: string): SharedRecords {
    if (!this.keys) return inner;
    const records = new SealedRecords(inner, name, this.keys, (record, why) => {
      if (!this.reportedRecords.firstTime(JSON.stringify([name, record, why]))) return;
      this.stats.unreadableRecords[why] += 1;
      this.log('warn', `shared record ${name}/${record} skipped: ${why === 'unsealed' ? 'not sealed (written without the cluster key)' : why === 'notForThisKey' ? 'sealed for other cluster keys' : 'its seal does not match'}`);
    });
    this.records.push(records);
    return records;
  }

  /** Seals the records again for the keys this node accepts (a rollover step may have added one). */
  async resealRecords(): Promise<void> {
    for (const records of this.records) await records.reseal();
  }

  /**
   * Nodes of two wire protocols cannot form one cluster: a node does not
   * start while live nodes of another one renew their cards (the cards of
   * nodes just stopped get `cardTtl` to expire).
   *
   * @throws ClusterError KPC_PROTOCOL_MISMATCH naming both versions.
   */
  async refuseOtherProtocols(timers: { cardTtl: number; heartbeat: number }): Promise<void> {
    const deadline = Date.now() + timers.cardTtl + timers.heartbeat;
    for (;;) {
      const others = (await this.store.list()).filter((card) => card.protocol !== this.protocol);
      if (others.length === 0) return;
      if (Date.now() >= deadline) {
        const names = others.map((card) => `${card.id} (wire protocol ${card.protocol})`).join(', ');
        throw new ClusterError(
          'KPC_PROTOCOL_MISMATCH',
          `live node(s) ${names} cannot form a cluster with this node (wire protocol ${this.protocol}): stop every node of the other version, then start the new ones (README: Upgrading)`,
        );
      }
      await delay(timers.heartbeat);
    }
  }

  snapshot(): TrustStats {
    return {
      sealed: this.stats.sealed,
      refusedCards: { ...this.stats.refusedCards },
      unreadableRecords: { ...this.stats.unreadableRecords },
      foreignProtocols: this.foreignProtocols(),
    };
  }

  private foreignProtocols(): Record<string, number> {
    const shown: Record<string, number> = {};
    for (const [id, { protocol, seenAt }] of this.foreign) {
      if (Date.now() - seenAt > FOREIGN_SHOWN_MS) this.foreign.delete(id);
      else shown[id] = protocol;
    }
    return shown;
  }
}
