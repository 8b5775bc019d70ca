/**
 * The narrow slice of Kuzzle 2.x the plugin touches, typed here so that the
 * rest of the code never sees `any`. Verified against Kuzzle 2.10.4's lib/.
 */

export interface KoncordeLike {
  store(normalized: { index: string; collection: string; normalized: unknown; id: string }): { id: string };
  hasFilter(filterId: string): boolean;
  /** Whether any filter is stored on this collection. */
  exists(index: string, collection: string): boolean;
  /** The ids of the filters `data` matches. */
  test(index: string, collection: string, data: unknown, documentId?: string): string[];
  /**
   * Koncorde 3's storage: the normalized filters of each stored room, and
   * the id it gives a filter (a hash of it under `internal.hash.seed`).
   */
  storage?: {
    filters?: Map<string, { index: string; collection: string; filters: unknown }>;
    getFilterId?(index: string, collection: string, filters: unknown): string;
  };
}

export interface HotelClerkRoom {
  id: string;
  index: string;
  collection: string;
  customers: Set<string>;
  channels: Record<string, { cluster: boolean }>;
}

/** A Kuzzle user as requests carry it. */
export interface KuzzleUserLike {
  _id: string;
  isActionAllowed(request: KuzzleRequestLike): Promise<boolean>;
}

export interface KuzzleRequestLike {
  id: string;
  input: {
    controller: string;
    action: string;
    resource: { index?: string; collection?: string; _id?: string };
    body: Record<string, unknown> | null;
    args: Record<string, unknown>;
  };
  context: { user: KuzzleUserLike | null };
  result: unknown;
  error: { id?: string } | null;
  clearError(): void;
  setResult(result: unknown, options?: { status?: number; headers?: Record<string, string>; raw?: boolean }): void;
  serialize(): SerializedRequest;
}

/** What `request.serialize()` returns. */
export interface SerializedRequest {
  data: Record<string, unknown>;
  headers?: unknown;
  options: Record<string, unknown>;
}

export interface KuzzleLogger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** The global Kuzzle object, as a privileged plugin sees it. */
export interface KuzzleLike {
  id: string;
  version?: string;
  /** Kuzzle's install folder (where its own dependencies resolve from). */
  rootPath?: string;
  config: {
    cluster?: { enabled?: boolean };
    services: { internalCache: Record<string, unknown>; memoryStorage?: Record<string, unknown> };
    version?: string;
    /** How long the rooms a document matched are remembered (Kuzzle passes it to its cache as is). */
    limits?: { subscriptionDocumentTTL?: number };
  };
  koncorde: KoncordeLike;
  log: KuzzleLogger;
  ask(event: string, ...args: unknown[]): Promise<unknown>;
  onAsk(event: string, handler: (...args: unknown[]) => unknown): void;
  hasAskAnswerer?(event: string): boolean;
  emit(event: string, payload?: unknown): void;
  /** Who answers each ask (Kuzzle 2.9+): the plugin puts itself in front of the notifier's answerers. */
  coreAnswerers?: Map<string, (...args: never[]) => unknown>;
  realtime?: { hotelClerk?: { rooms: Map<string, HotelClerkRoom> } };
  funnel?: { concurrentRequests: number; readonly remainingRequests?: number };
  /** Kuzzle's vault: `secrets` holds the decrypted secrets file. */
  vault?: { secrets?: unknown } | null;
  state?: number;
}

export type KuzzleErrorClass = new (message: string, ...rest: unknown[]) => Error;

export interface PluginContextLike {
  accessors: { kuzzle?: KuzzleLike };
  errors: {
    BadRequestError: KuzzleErrorClass;
    ForbiddenError: KuzzleErrorClass;
    UnauthorizedError?: KuzzleErrorClass;
    InternalError: KuzzleErrorClass;
    ServiceUnavailableError?: KuzzleErrorClass;
    TooManyRequestsError?: KuzzleErrorClass;
    PluginImplementationError: KuzzleErrorClass;
    NotFoundError: KuzzleErrorClass;
    KuzzleError: KuzzleErrorClass;
  };
  log: KuzzleLogger;
  constructors: { Request: (data: Record<string, unknown>, options?: Record<string, unknown>) => KuzzleRequestLike };
}

/**
 * Kuzzle 2.10.4 internals the Kuzzle-wide state sync (plugin/kuzzle-sync) uses.
 * All optional: each is checked before use, so a Kuzzle without one degrades
 * to "not synchronised" instead of crashing.
 */
export interface KuzzleStateInternals {
  /** lib/core/validation/validation.js */
  validation?: { curateSpecification(): Promise<unknown> };
  /** lib/core/plugin/pluginsManager.js */
  pluginsManager?: {
    readonly plugins: Array<{ name: string }>;
    /** The Backend application, which `plugins` leaves out. */
    readonly application?: { name: string };
    strategies: Record<string, { owner: string }>;
    listStrategies(): string[];
    registerStrategy(pluginName: string, strategyName: string, strategy: unknown): void;
    unregisterStrategy(pluginName: string, strategyName: string): void;
  };
  /** lib/core/auth/tokenManager.js: which connection uses which token, per node. */
  tokenManager?: {
    tokens: { array: Array<{ idx: string; _id: string | null; expiresAt: number; userId: string; connectionId?: string; rooms?: Set<string> }> };
    expire(token: { _id: string | null; expiresAt: number }): Promise<void>;
    /** Files a token's use by a connection for a room (a new entry, or the room added to the token's entry). */
    link?(token: { _id: string; expiresAt: number; userId: string; refreshed?: boolean }, connectionId: string, roomId: string): void;
  };
  /** lib/kuzzle/internalIndexHandler.js: Kuzzle's private index (users, rights, API keys). */
  internalIndex?: { index: string };
  /** lib/kuzzle/kuzzle.js */
  dump?(suffix: string): Promise<unknown>;
  shutdown?(): Promise<void>;
}
