/**
 * Reading back a `details` column: Rampart only ever stores a JSON object there (canonicalJson of a record), so text
 * that does not parse, or parses to anything else (`null`, an array, a number, a string, a boolean), was written
 * outside Rampart. Shared by the events store (src/events-store/sqlite.ts) and the audit chain (verify.ts), which
 * decide what such a row becomes.
 */

/** The JSON object `text` holds, or undefined when it is not JSON or not an object. */
export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
