import { isObject, type SyncChannel } from './channel';

export interface ValidationHost {
  /** Re-reads every specification from the internal index (kuzzle.validation). */
  reload(): Promise<void>;
}

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

  private async reloadEverywhere(request: unknown): Promise<unknown> {
    await this.channel.send('validation:reload', {});
    return request;
  }

  constructor(private readonly channel: SyncChannel, host: ValidationHost) {
    channel.on('validation:reload', (body) => (isObject(body) ? body : undefined), () => host.reload());
  }
}
