import { isObject, type PlainObject } from '../../util/guards';

/** Reads what an API event receives (a Kuzzle Request), defensively. */
export function requestInput(request: unknown): { args: PlainObject; resource: PlainObject; body: PlainObject } {
  const input = isObject(request) && isObject(request.input) ? request.input : {};
  return {
    args: isObject(input.args) ? input.args : {},
    resource: isObject(input.resource) ? input.resource : {},
    body: isObject(input.body) ? input.body : {},
  };
}
