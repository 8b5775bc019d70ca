import type { Handlers } from '../../bus/message-spec';
import { SerialQueue } from '../../util/serial-queue';
import type { KuzzleChannel } from './kuzzle-channel';
import type { KuzzleMessages } from './messages';

/**
 * Document specifications are compiled once per node (kuzzle.validation).
 * `collection:updateSpecifications` / `deleteSpecifications` write them,
 * refresh the internal index and recompile on the node that served the
 * request only; their after-events tell the peers to recompile too.
 * (`validateSpecifications` stores nothing, so it needs nothing.)
 */
export class ValidationSync {
  /** Pipes: the client's answer waits until every peer validates with the new specifications. */
  readonly pipes = {
    'collection:afterUpdateSpecifications': (request: unknown) => this.reloadEverywhere(request),
    'collection:afterDeleteSpecifications': (request: unknown) => this.reloadEverywhere(request),
  };

  readonly handlers: Pick<Handlers<KuzzleMessages>, 'kuzzle:validation:reload'> = {
    'kuzzle:validation:reload': async () => {
      await this.reload();
      return {};
    },
  };

  /**
   * Reloads, one at a time: Kuzzle reads the specifications, compiles them,
   * then sets them, so that two reloads side by side (two updates through
   * two nodes, a catch-up beside an update) could end with the one that
   * read the older specifications, after the newer one had answered. One
   * asked while another runs waits for it, then reads again.
   */
  private readonly reloads = new SerialQueue();

  constructor(
    private readonly channel: KuzzleChannel,
    /** Re-reads every specification from the internal index (Kuzzle's curateSpecification). */
    private readonly curate: () => Promise<void>,
  ) {}

  /** Re-reads every specification, after any reload under way. */
  reload(): Promise<void> {
    return this.reloads.once('reload', this.curate);
  }

  private async reloadEverywhere(request: unknown): Promise<unknown> {
    // Here too, in turn: Kuzzle's own reload in the action ran outside the
    // queue, beside any reload of ours, and may have read before another
    // update through another node; this one reads after both.
    await Promise.all([this.reload(), this.channel.send('kuzzle:validation:reload', {})]);
    return request;
  }
}
