/** GGUF metadata value type ids (gguf.h `enum gguf_type`). */
export const GGUF_VALUE_TYPE = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;

/** A scalar metadata value type name. */
export type GgufScalarType = Exclude<keyof typeof GGUF_VALUE_TYPE, 'array'>;

/** A scalar metadata value as read or written. */
export type GgufScalar = number | bigint | boolean | string;

/** One metadata value to write: a typed scalar, or an array of one scalar type. */
export type GgufMetaValue =
  | { type: GgufScalarType; value: GgufScalar }
  | { type: 'array'; itemType: GgufScalarType; values: readonly GgufScalar[] };

/** Builders for metadata values (`meta.str('qwen2')`, `meta.arr('string', tokens)`, ...). */
export const meta = {
  u32: (value: number): GgufMetaValue => ({ type: 'u32', value }),
  i32: (value: number): GgufMetaValue => ({ type: 'i32', value }),
  u64: (value: number | bigint): GgufMetaValue => ({ type: 'u64', value }),
  f32: (value: number): GgufMetaValue => ({ type: 'f32', value }),
  bool: (value: boolean): GgufMetaValue => ({ type: 'bool', value }),
  str: (value: string): GgufMetaValue => ({ type: 'string', value }),
  arr: (itemType: GgufScalarType, values: readonly GgufScalar[]): GgufMetaValue => ({
    type: 'array',
    itemType,
    values,
  }),
};

/** Bytes of a fixed-size scalar by type id (strings have none). */
export const GGUF_SCALAR_BYTES: Readonly<Record<number, number>> = {
  0: 1,
  1: 1,
  2: 2,
  3: 2,
  4: 4,
  5: 4,
  6: 4,
  7: 1,
  10: 8,
  11: 8,
  12: 8,
};

/** "GGUF" read as a little-endian u32. */
export const GGUF_MAGIC = 0x46554747;
/** general.alignment when a file does not say. */
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Zero bytes after `n` bytes to reach the next multiple of `alignment`. */
export const alignPad = (n: number, alignment: number): number => (alignment - (n % alignment)) % alignment;
