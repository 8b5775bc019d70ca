import type { Handlers } from '../../bus/message-spec';
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

  constructor(
    private readonly channel: KuzzleChannel,
    /** Re-reads every specification from the internal index. */
    readonly reload: () => Promise<void>,
  ) {}

  private async reloadEverywhere(request: unknown): Promise<unknown> {
    await this.channel.send('kuzzle:validation:reload', {});
    return request;
  }
}
