/**
 * How a message type is declared: once, with the parser of its body, its
 * direction (a broadcast on PUB/SUB or a request on DEALER/ROUTER, with the
 * parser of its reply) and who may send it. The bus refuses anything that
 * arrives otherwise, and handler tables typed from these declarations make a
 * missing handler or a wrong body a compile error.
 */

/** Turns a body received from the network into a typed value, or undefined when malformed. */
export type Parser<T> = (body: unknown) => T | undefined;

/**
 * Who may send a message: `anyone` reaching the port (only `join`, which is
 * how a node becomes a member), or `member` (a node both sides recorded).
 */
export type SenderPolicy = 'anyone' | 'member';

export interface BroadcastSpec<B> {
  readonly kind: 'broadcast';
  readonly sender: SenderPolicy;
  readonly parse: Parser<B>;
}

export interface RequestSpec<B, R> {
  readonly kind: 'request';
  readonly sender: SenderPolicy;
  readonly parse: Parser<B>;
  readonly parseReply: Parser<R>;
}

export type MessageSpec = BroadcastSpec<unknown> | RequestSpec<unknown, unknown>;
export type MessageMap = Readonly<Record<string, MessageSpec>>;

export function broadcast<B>(parse: Parser<B>, sender: SenderPolicy = 'member'): BroadcastSpec<B> {
  return { kind: 'broadcast', sender, parse };
}

export function request<B, R>(parse: Parser<B>, parseReply: Parser<R>, sender: SenderPolicy = 'member'): RequestSpec<B, R> {
  return { kind: 'request', sender, parse, parseReply };
}

export type BodyOf<S> = S extends RequestSpec<infer B, unknown> ? B : S extends BroadcastSpec<infer B> ? B : never;
export type ReplyOf<S> = S extends RequestSpec<unknown, infer R> ? R : never;
export type BroadcastTypes<M extends MessageMap> = { [K in keyof M]: M[K] extends RequestSpec<unknown, unknown> ? never : K }[keyof M] & string;
export type RequestTypes<M extends MessageMap> = { [K in keyof M]: M[K] extends RequestSpec<unknown, unknown> ? K : never }[keyof M] & string;

/** Who sent a message, as the transport authenticated it. */
export interface Sender {
  id: string;
  incarnation: number;
}

/** One handler per declared type: a request handler returns the reply body. */
export type Handlers<M extends MessageMap> = {
  [K in keyof M]: M[K] extends RequestSpec<infer B, infer R>
    ? (body: B, sender: Sender) => Promise<R> | R
    : M[K] extends BroadcastSpec<infer B>
      ? (body: B, sender: Sender) => Promise<void> | void
      : never;
};

/** A body with no field, for messages whose type says everything. */
export function parseEmpty(body: unknown): Record<string, never> | undefined {
  return body === null || (typeof body === 'object' && !Array.isArray(body)) ? {} : undefined;
}
