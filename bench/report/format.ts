/** A number for a report's cell, rounded to `digits` decimals; '–' when it was not measured. */
export const show = (value: number | undefined, digits = 2): string => (value === undefined || !Number.isFinite(value) ? '–' : String(Math.round(value * 10 ** digits) / 10 ** digits));

/** `value` as a multiple of `of` ("1.5×"), or `missing` when either was not measured. */
export const ratioText = (value: number | undefined, of: number | undefined, missing: string): string => (value !== undefined && of ? `${show(value / of)}×` : missing);
