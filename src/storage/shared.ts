/**
 * Helpers every adapter uses, so argument checking, sealing and key bounding behave the same in
 * memory, SQLite and the adapters still to come.
 */
import { createHash } from 'node:crypto';
import { SecretBoxError, type SecretBox } from '../crypto/secret-box.ts';
import { StoreCorruptError, type DamagedRecordHandler, type JsonObject } from './ports.ts';

export function requireText(value: unknown, what: string, maxLength = 1024): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) {
    throw new TypeError(`${what} must be a non-empty string of at most ${maxLength} characters`);
  }
  return value;
}

export function optionalText(value: unknown, what: string, maxLength = 1024): string | null {
  return value === undefined || value === null ? null : requireText(value, what, maxLength);
}

export function requireTime(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`${what} must be a non-negative integer (epoch milliseconds)`);
  }
  return value;
}

export function optionalTime(value: unknown, what: string): number | null {
  return value === undefined || value === null ? null : requireTime(value, what);
}

export function requireCount(value: unknown, what: string): number {
  return requireTime(value, what);
}

export function requireTextList(value: unknown, what: string): readonly string[] {
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || item.length === 0 || item.length > 256)) {
    throw new TypeError(`${what} must be an array of non-empty strings`);
  }
  return Object.freeze([...(value as string[])]);
}

export function requireJsonObject(value: unknown, what: string): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError(`${what} must be a JSON object`);
  return value as JsonObject;
}

/** The additional authenticated data that binds a sealed value to its record. */
export function recordIdentity(table: string, id: string): string {
  return `${table}:${id}`;
}

/** Opens a sealed column; any failure becomes a StoreCorruptError naming the record, never the value. */
export function openSealed(box: SecretBox, table: string, id: string, sealed: string): Buffer {
  try {
    return box.open(sealed, recordIdentity(table, id));
  } catch (error) {
    const reason = error instanceof SecretBoxError ? error.message : 'decryption failed';
    throw new StoreCorruptError(table, id, reason);
  }
}

/** Parses a JSON column that must hold a string array. */
export function parseTextList(text: string, table: string, id: string, column: string): readonly string[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new StoreCorruptError(table, id, `column ${column} is not valid JSON`);
  }
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) {
    throw new StoreCorruptError(table, id, `column ${column} is not a list of strings`);
  }
  return Object.freeze(value as string[]);
}

export function parseJsonObject(text: string, table: string, id: string, column: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new StoreCorruptError(table, id, `column ${column} is not valid JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new StoreCorruptError(table, id, `column ${column} is not a JSON object`);
  }
  return Object.freeze(value as JsonObject);
}

/**
 * Decodes the rows of a list method under the `DamagedRecordHandler` contract (ports.ts): without a handler the
 * first damaged row throws (fail closed, as a single-record read); with one, each row whose decoding throws
 * `StoreCorruptError` goes to the handler and is left out, and every other error still throws, so a store outage
 * or a bug is never mistaken for one bad row. Order is kept.
 */
export function decodeRows<R, T>(rows: readonly R[], decode: (row: R) => T, onDamaged: DamagedRecordHandler | undefined): T[] {
  if (onDamaged === undefined) return rows.map((row) => decode(row));
  const records: T[] = [];
  for (const row of rows) {
    let record: T;
    try {
      record = decode(row);
    } catch (error) {
      if (!(error instanceof StoreCorruptError)) throw error;
      onDamaged(error);
      continue;
    }
    records.push(record);
  }
  return records;
}

/** Raw counter keys up to this length are kept as they are (prefixed); longer ones are hashed. */
export const MAX_RAW_COUNTER_KEY = 128;

/**
 * Bounds a counter key's length. Short keys become `r:<key>`, long ones `h:<sha256 hex>`: the two
 * namespaces cannot collide, so an attacker-chosen long value can never share a counter with, or
 * evict the lock of, a short one.
 */
export function boundCounterKey(key: string): string {
  if (typeof key !== 'string' || key.length === 0) throw new TypeError('counter key must be a non-empty string');
  return key.length <= MAX_RAW_COUNTER_KEY ? `r:${key}` : `h:${createHash('sha256').update(key, 'utf8').digest('hex')}`;
}

export function requireWindow(windowMs: unknown): number {
  if (typeof windowMs !== 'number' || !Number.isSafeInteger(windowMs) || windowMs <= 0) {
    throw new TypeError('counter windowMs must be a positive integer');
  }
  return windowMs;
}

/**
 * The sliding-window estimate (see CounterStore): the previous bucket's count weighted by the share
 * of the previous window that still overlaps the sliding window ending at `now`.
 */
export function slidingWindowCount(previous: number, current: number, windowMs: number, now: number): number {
  const elapsedInCurrent = now % windowMs;
  const previousWeight = (windowMs - elapsedInCurrent) / windowMs;
  return current + previous * previousWeight;
}
