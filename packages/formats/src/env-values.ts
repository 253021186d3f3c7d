import { z } from 'zod';

/**
 * An on/off environment setting: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off` (an empty value is off; skills'
 * config parsing treats empty as unset, so the default applies there). Anything else is a validation error naming
 * the accepted spellings.
 */
export const envBool = z.stringbool({
  truthy: ['1', 'true', 'yes', 'on'],
  falsy: ['0', 'false', 'no', 'off', ''],
});

/** An integer environment setting within [min, max] (the string is coerced). */
export const envInt = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
