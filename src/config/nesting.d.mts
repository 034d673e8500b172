/** Types of nesting.mjs (plain JavaScript so the OpenAPI parser thread can run it without a TypeScript loader). */

/** The first line where the text nests deeper than `limit`, or undefined. Linear in the text. */
export function deeperThan(text: string, limit: number): number | undefined;
