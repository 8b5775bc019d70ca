const noop = (): void => undefined;

/**
 * The peers whose broadcasts this node reads no further for now (see
 * Transport.holdBroadcasts), by peer id: a link opened again for a held
 * peer (it was evicted and joined again, or moved) is held as well, since
 * what it sent before is still being handled.
 */
export class PeerHolds {
  private readonly held = new Map<string, Promise<void>>();

  /** Holds `peerId` until `until` settles, and the holds before it. */
  hold(peerId: string, until: Promise<void>): void {
    const settled = until.then(noop, noop);
    const previous = this.held.get(peerId);
    const held = previous ? Promise.all([previous, settled]).then(noop) : settled;
    this.held.set(peerId, held);
    void held.then(() => {
      if (this.held.get(peerId) === held) this.held.delete(peerId);
    });
  }

  holding(peerId: string): boolean {
    return this.held.has(peerId);
  }

  /**
   * What a receive loop of `peerId` waits for before it reads on, or until
   * its link closes (`whenClosed`, cancelled once the hold ends: a link
   * held thousands of times keeps nothing of it); undefined when not held.
   */
  until(peerId: string, whenClosed: (wake: () => void) => () => void): Promise<void> | undefined {
    const held = this.held.get(peerId);
    if (!held) return undefined;
    return new Promise<void>((resolve) => {
      const cancel = whenClosed(resolve);
      void held.then(() => {
        cancel();
        resolve();
      });
    });
  }
}
