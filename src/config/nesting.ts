/**
 * How deeply YAML or JSON nests. The measure of a text, before any parser sees it, is nesting.mjs (its header says
 * why it exists and why it never underestimates); this module adds the measure of a parsed value.
 */

export { deeperThan } from './nesting.mjs';

/**
 * How deep a parsed value nests (objects and arrays), counted without recursion, stopping past `limit`: YAML aliases
 * nest one anchored structure inside another, so the value can be deeper than its text.
 */
export function valueDeeperThan(value: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  let visited = 0;
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (depth >= limit) return true;
    // An alias repeats a subtree by reference; visiting it again is bounded by the alias limit, and by this cap.
    if (++visited > 1_000_000) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node as Record<string, unknown>)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return false;
}
