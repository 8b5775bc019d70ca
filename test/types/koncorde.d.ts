/** The part of Koncorde 3 (Kuzzle 2.10's filter engine) the tests use. */
declare module 'koncorde' {
  export default class Koncorde {
    normalize(index: string, collection: string, filter: unknown): Promise<{ index: string; collection: string; id: string; normalized: unknown }>;
    hasFilter(filterId: string): boolean;
    store(normalized: { index: string; collection: string; normalized: unknown; id: string }): { id: string };
    remove(filterId: string): void;
    exists(index: string, collection: string): boolean;
  }
}
