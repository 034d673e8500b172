// @ts-check
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
 *
 * Plain JavaScript so that the OpenAPI parser thread (openapi/parse-document.mjs, which runs without a TypeScript
 * loader) measures the files a document's external `$ref`s name with the same function as the config loader.
 */

/**
 * The first line where the text nests deeper than `limit`, or undefined. Linear in the text.
 * @param {string} text
 * @param {number} limit
 * @returns {number | undefined}
 */
export function deeperThan(text, limit) {
  /** @type {number[]} */
  const indents = [];
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
        while (indents.length > 0 && /** @type {number} */ (indents[indents.length - 1]) >= indent) indents.pop();
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

/** @param {number} c */
function isCompactIndicator(c) {
  return c === 0x2d /* - */ || c === 0x3f /* ? */ || c === 0x3a /* : */;
}

/** @param {number} c */
function isBlank(c) {
  return c === 0x20 || c === 0x09;
}
