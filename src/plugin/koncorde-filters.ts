import { isObject, type PlainObject } from '../util/guards';

/**
 * Koncorde 3 (Kuzzle 2.10) stores normalized filters without checking them:
 * a bad one breaks its structures for good (a later removal throws). Filters
 * a peer sends, or that the shared state holds, are checked against what
 * Koncorde's own normalization produces before they reach it: an array of
 * subfilters, each an array of conditions `{ <keyword>: value, not }`.
 */

/** Bounds on a filter received from a peer. */
const MAX_SUBFILTERS = 5000;
const MAX_CONDITIONS = 500;

type Scalar = string | number | boolean | null;
const isScalar = (value: unknown): value is Scalar =>
  value === null || typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));

/** An object with exactly one key, returned with it. */
function single(value: unknown): [string, unknown] | undefined {
  if (!isObject(value)) return undefined;
  const keys = Object.keys(value);
  return keys.length === 1 && keys[0] ? [keys[0], value[keys[0]]] : undefined;
}

const RANGE_BOUNDS = new Set(['gt', 'gte', 'lt', 'lte']);
const GEO_SHAPES = new Set(['geoBoundingBox', 'geoDistance', 'geoDistanceRange', 'geoPolygon']);

const checks: Record<string, (value: unknown) => boolean> = {
  everything: (value) => value === true,
  nothing: (value) => value === true,
  equals: (value) => isScalar(single(value)?.[1]),
  exists: (value) =>
    isObject(value) && typeof value.path === 'string' && typeof value.array === 'boolean' && (value.value === undefined || isScalar(value.value)),
  range: (value) => {
    const bounds = single(value)?.[1];
    if (!isObject(bounds)) return false;
    const keys = Object.keys(bounds);
    return keys.length > 0 && keys.every((key) => RANGE_BOUNDS.has(key) && typeof bounds[key] === 'number');
  },
  regexp: (value) => {
    const regexp = single(value)?.[1];
    if (!isObject(regexp) || typeof regexp.value !== 'string') return false;
    if (regexp.flags !== undefined && typeof regexp.flags !== 'string') return false;
    try {
      new RegExp(regexp.value, regexp.flags as string | undefined);
      return true;
    } catch {
      return false;
    }
  },
  geospatial: (value) => {
    const shape = single(value);
    const area = single(shape?.[1])?.[1];
    return shape !== undefined && GEO_SHAPES.has(shape[0]) && (isObject(area) || Array.isArray(area));
  },
};

function isCondition(condition: unknown): condition is PlainObject {
  if (!isObject(condition)) return false;
  const keys = Object.keys(condition).filter((key) => key !== 'not');
  if (keys.length !== 1 || (condition.not !== undefined && typeof condition.not !== 'boolean')) return false;
  const keyword = keys[0] ?? '';
  const check = Object.prototype.hasOwnProperty.call(checks, keyword) ? checks[keyword] : undefined;
  return check !== undefined && check(condition[keyword]);
}

/** Whether `filters` has the shape of a Koncorde 3 normalized filter. */
export function isNormalizedFilter(filters: unknown): boolean {
  return (
    Array.isArray(filters) &&
    filters.length > 0 &&
    filters.length <= MAX_SUBFILTERS &&
    filters.every(
      (subfilter) => Array.isArray(subfilter) && subfilter.length > 0 && subfilter.length <= MAX_CONDITIONS && subfilter.every(isCondition),
    )
  );
}
