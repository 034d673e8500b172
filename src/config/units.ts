/**
 * Durations and sizes as people write them in config: `30s`, `10m`, `500ms`, `2h`, `14d`, `1mb`, `16kb`.
 * A bare number is milliseconds (durations) or bytes (sizes).
 */
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export const DURATION_SCHEMA = {
  anyOf: [
    { type: 'integer', minimum: 0 },
    { type: 'string', pattern: DURATION.source },
  ],
} as const;

export function parseDuration(value: number | string): number {
  if (typeof value === 'number') return value;
  const match = DURATION.exec(value.trim());
  if (!match) throw new Error(`not a duration: ${value}`);
  return Math.round(Number(match[1]) * DURATION_MS[match[2]!]!);
}

const SIZE = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)$/i;
const SIZE_BYTES: Record<string, number> = { b: 1, kb: 1024, mb: 1024 * 1024, gb: 1024 * 1024 * 1024 };

export const SIZE_SCHEMA = {
  anyOf: [
    { type: 'integer', minimum: 0 },
    { type: 'string', pattern: SIZE.source.replace('(b|kb|mb|gb)', '([bB]|[kK][bB]|[mM][bB]|[gG][bB])') },
  ],
} as const;

export function parseSize(value: number | string): number {
  if (typeof value === 'number') return value;
  const match = SIZE.exec(value.trim());
  if (!match) throw new Error(`not a size: ${value}`);
  return Math.round(Number(match[1]) * SIZE_BYTES[match[2]!.toLowerCase()]!);
}
