import { createCipheriv, createDecipheriv, randomBytes } from 'crypto';
import type { CurveKeys } from '../transport/curve-keys';
import { agreedKey } from '../transport/key-agreement';
import { isObject } from '../util/guards';
import type { SharedRecords } from './shared-records';

const LABEL = 'kpc records v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A record as stored when sealed: who wrote it, and its value encrypted for each cluster key then accepted. */
interface Sealed {
  sealed: 1;
  /** The writer's cluster public key. */
  by: string;
  /** Reader's cluster public key → base64(iv | tag | ciphertext). */
  for: Record<string, string>;
}

const isSealed = (value: unknown): value is Sealed =>
  isObject(value) && value.sealed === 1 && typeof value.by === 'string' && isObject(value.for) && Object.values(value.for).every((v) => typeof v === 'string');

/** Why a stored record was not handed out. */
export type UnreadableRecord = 'unsealed' | 'notForThisKey' | 'forged';

/**
 * Records encrypted at rest with keys only holders of a cluster key can compute:
 * each value is sealed (AES-256-GCM) once for each cluster key the writer
 * accepts (its own, and those of `accept` during a rollover), under a key
 * agreed between the writer's cluster key and that one (see agreedKey),
 * bound to the record's name. A reader opens the copy sealed for its own
 * key. Anything else in the store (a value in clear, one sealed with a key
 * this node does not hold, an altered one, one moved to another name) is
 * skipped and reported: a Redis writer can delete a record or put back an
 * older copy of it, never read one or plant one of its own.
 */
export class SealedRecords implements SharedRecords {
  constructor(
    private readonly inner: SharedRecords,
    private readonly collection: string,
    private readonly keys: CurveKeys,
    private readonly onUnreadable: (name: string, why: UnreadableRecord) => void,
  ) {}

  async set(name: string, value: unknown): Promise<void> {
    await this.inner.set(name, this.seal(name, value));
  }

  delete(name: string): Promise<void> {
    return this.inner.delete(name);
  }

  async all(): Promise<Array<{ name: string; value: unknown }>> {
    const opened: Array<{ name: string; value: unknown }> = [];
    for (const { name, value } of await this.inner.all()) {
      const result = this.open(name, value);
      if (typeof result === 'string') this.onUnreadable(name, result);
      else opened.push({ name, value: result.value });
    }
    return opened;
  }

  /**
   * Seals again with this node's key, for the keys it accepts now (after a
   * key rollover step), the readable records sealed with another key or
   * lacking a copy for one of them. A record
   * updated by another node between the read and the write would be put
   * back as it was read: only records a rollover step left behind are
   * touched, which nobody else writes at that moment.
   */
  async reseal(): Promise<number> {
    let resealed = 0;
    for (const { name, value } of await this.inner.all()) {
      // Up to date: sealed by this node's key, for every key it accepts.
      if (isSealed(value) && value.by === this.keys.publicKey && this.keys.accepted.every((key) => value.for[key] !== undefined)) continue;
      const opened = this.open(name, value);
      if (typeof opened === 'string') continue;
      await this.set(name, opened.value);
      resealed++;
    }
    return resealed;
  }

  private aad(name: string): Buffer {
    return Buffer.from(JSON.stringify([this.collection, name]));
  }

  private seal(name: string, value: unknown): Sealed {
    const plain = Buffer.from(JSON.stringify(value === undefined ? null : value), 'utf8');
    const sealed: Sealed = { sealed: 1, by: this.keys.publicKey, for: {} };
    for (const reader of new Set(this.keys.accepted)) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', agreedKey(this.keys.secretKey, reader, LABEL), iv);
      cipher.setAAD(this.aad(name));
      const body = Buffer.concat([cipher.update(plain), cipher.final()]);
      sealed.for[reader] = Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
    }
    return sealed;
  }

  private open(name: string, value: unknown): { value: unknown } | UnreadableRecord {
    if (!isSealed(value)) return 'unsealed';
    const copy = value.for[this.keys.publicKey];
    if (copy === undefined || !this.keys.accepted.includes(value.by)) return 'notForThisKey';
    try {
      const bytes = Buffer.from(copy, 'base64');
      if (bytes.length < IV_BYTES + TAG_BYTES) return 'forged';
      const decipher = createDecipheriv('aes-256-gcm', agreedKey(this.keys.secretKey, value.by, LABEL), bytes.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
      decipher.setAAD(this.aad(name));
      decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      const plain = Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
      return { value: JSON.parse(plain.toString('utf8')) as unknown };
    } catch {
      return 'forged';
    }
  }
}
