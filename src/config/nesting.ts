/**
 * How deeply a YAML or JSON text nests, measured on the text before any parser sees it.
 *
 * Why: the YAML parser (and the OpenAPI tooling after it) recurse once per level. A few hundred levels exhaust the
 * stack, and when that happens while V8 compiles a regular expression the process aborts (`FATAL ERROR:
 * RegExpCompiler Allocation failed`), which no try/catch can stop: a 37 KB config, or the same written over a running
 * gateway's config before a reload, ended the process instead of being refused. Nothing legitimate nests that deep:
 * a Rampart config is about ten levels, an OpenAPI document a few dozen.
 *
 * The measure never underestimates, so it reads no quoting and no comments (a parser-like reading that disagreed with
 * the parser could be made to hide brackets): every `{` and `[` opens a level until its `}` or `]`, wherever it is, and
 * block collections count the indentation levels open above a line (a stack, as Python's tokenizer keeps) plus the
 * compact `- `, `? `, `: ` indicators at its start. Brackets in strings and indented block scalars can only make it
 * read deeper than the parser will, which the limits leave room for.
 */

/** The first line where the text nests deeper than `limit`, or undefined. Linear in the text. */
export function deeperThan(text: string, limit: number): number | undefined {
  const indents: number[] = [];
  let flow = 0;
  let line = 1;
  let at = 0;
  const n = text.length;
  while (at <= n) {
    let end = text.indexOf('\n', at);
    if (end < 0) end = n;
    let i = at;
    if (flow === 0) {
      let indent = 0;
      while (i < end && text.charCodeAt(i) === 0x20) {
        indent++;
        i++;
      }
      const first = i < end ? text.charCodeAt(i) : -1;
      // Blank lines and comment lines do not open or close block levels.
      if (first !== -1 && first !== 0x23 /* # */ && first !== 0x0d) {
        while (indents.length > 0 && indents[indents.length - 1]! >= indent) indents.pop();
        indents.push(indent);
        let compact = 0;
        // `- - - x`, `? - x`, `- a: - b`: levels without indentation.
        while (i + 1 < end && isCompactIndicator(text.charCodeAt(i)) && isBlank(text.charCodeAt(i + 1))) {
          compact++;
          i += 2;
          while (i < end && isBlank(text.charCodeAt(i))) i++;
        }
        if (indents.length + compact > limit) return line;
      }
    }
    for (; i < end; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x7b || c === 0x5b) {
        flow++;
        if (indents.length + flow > limit) return line;
      } else if ((c === 0x7d || c === 0x5d) && flow > 0) flow--;
    }
    at = end + 1;
    line++;
  }
  return undefined;
}

function isCompactIndicator(c: number): boolean {
  return c === 0x2d /* - */ || c === 0x3f /* ? */ || c === 0x3a /* : */;
}

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

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
