/**
 * Where a JSON pointer of the loaded document sits in its source files: file, line and column, so that a config error
 * names the exact spot (issue 5: "naming the file, the JSON pointer and the line").
 *
 * The pointer is one of the bundled document (external files inlined where first referenced), so the walk starts in
 * the main file and, whenever it meets a `$ref` that the pointer goes through, continues in the referenced file at the
 * referenced pointer: the answer is the place the author has to edit, in whichever file that is. Sources are parsed
 * with `yaml` (JSON is YAML 1.2) and its `LineCounter`, lazily and only when something has to be reported.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import { joinPointer, splitPointer } from './pointer.ts';

export interface SourcePosition {
  readonly file: string;
  /** Pointer inside `file` (differs from the bundled pointer when the spot is in a referenced file). */
  readonly pointer: string;
  /** 1-based; absent when the file could not be parsed. */
  readonly line?: number;
  readonly column?: number;
}

interface Source {
  readonly doc: Document.Parsed;
  readonly lines: LineCounter;
}

/** A `$ref` found in the sources, with where it is. */
export interface RefSite extends SourcePosition {
  readonly ref: string;
  /** The file the reference names (absolute), or undefined for an internal reference. */
  readonly targetFile: string | undefined;
}

const MAX_REF_HOPS = 64;

export class SourceLocator {
  readonly #main: string;
  readonly #sources = new Map<string, Source | null>();

  constructor(mainFile: string) {
    this.#main = mainFile;
  }

  #source(file: string): Source | null {
    let source = this.#sources.get(file);
    if (source === undefined) {
      try {
        const lines = new LineCounter();
        const doc = parseDocument(readFileSync(file, 'utf8'), { lineCounter: lines, uniqueKeys: false, prettyErrors: false });
        source = { doc, lines };
      } catch {
        source = null;
      }
      this.#sources.set(file, source);
    }
    return source;
  }

  /** The first YAML/JSON syntax error of `file`, with its position (the parser's own message is kept as well). */
  syntaxError(file: string): SourcePosition & { message: string } | undefined {
    const source = this.#source(file);
    const error = source?.doc.errors[0];
    if (!source || !error) return undefined;
    const pos = source.lines.linePos(error.pos[0]);
    return { file, pointer: '', line: pos.line, column: pos.col, message: error.message.split('\n')[0]! };
  }

  /** Position of `pointer` (of the bundled document). Falls back to the deepest part of the pointer that exists. */
  locate(pointer: string): SourcePosition {
    let file = this.#main;
    let source = this.#source(file);
    if (!source) return { file, pointer };
    let node: Node | null = source.doc.contents as Node | null;
    let filePointer = '';
    let at = this.#position(source, node);
    for (const token of splitPointer(pointer)) {
      // Go through references until the token is found (the bundled document has the target inlined here).
      for (let hop = 0; hop < MAX_REF_HOPS; hop++) {
        if (!isMap(node) || node.has(token)) break;
        const ref = node.get('$ref');
        if (typeof ref !== 'string') break;
        const target = this.#resolveRef(file, ref);
        if (!target) break;
        const targetSource = this.#source(target.file);
        if (!targetSource) break;
        const found = this.#walk(targetSource, target.pointer);
        if (!found) break;
        file = target.file;
        source = targetSource;
        node = found;
        filePointer = target.pointer;
      }
      let next: Node | null | undefined;
      let keyNode: Node | undefined;
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === token);
        if (pair) {
          keyNode = pair.key as Node;
          next = pair.value as Node | null;
        }
      } else if (isSeq(node) && /^\d+$/.test(token)) {
        next = node.items[Number(token)] as Node | undefined;
      }
      if (next === undefined && keyNode === undefined) break;
      filePointer = joinPointer(filePointer, token);
      at = this.#position(source, keyNode ?? next ?? null) ?? at;
      node = next ?? null;
    }
    return { file, pointer: filePointer, ...at };
  }

  /** Every `$ref` in the main file and, transitively, in the files it references (for locating broken references). */
  refSites(): RefSite[] {
    const out: RefSite[] = [];
    const visited = new Set<string>();
    const queue = [this.#main];
    while (queue.length > 0) {
      const file = queue.shift()!;
      if (visited.has(file)) continue;
      visited.add(file);
      const source = this.#source(file);
      if (!source) continue;
      const visit = (node: unknown, pointer: string): void => {
        if (isMap(node)) {
          for (const pair of node.items) {
            if (!isScalar(pair.key)) continue;
            const key = String(pair.key.value);
            const childPointer = joinPointer(pointer, key);
            if (key === '$ref' && isScalar(pair.value) && typeof pair.value.value === 'string') {
              const ref = pair.value.value;
              const targetFile = ref.startsWith('#') ? undefined : this.#resolveRef(file, ref)?.file;
              out.push({ file, pointer: childPointer, ref, targetFile, ...this.#position(source, pair.key as Node) });
              if (targetFile && !/^[a-z][a-z0-9+.-]*:\/\//i.test(ref)) queue.push(targetFile);
            } else {
              visit(pair.value, childPointer);
            }
          }
        } else if (isSeq(node)) {
          node.items.forEach((item, i) => visit(item, joinPointer(pointer, i)));
        }
      };
      visit(source.doc.contents, '');
    }
    return out;
  }

  /**
   * References that cannot be followed: a remote target (refused), a file that cannot be read or parsed, or a
   * pointer that does not exist in its file. Used to name every broken `$ref` when the parser gave up on one.
   */
  brokenRefs(): Array<RefSite & { reason: string }> {
    const out: Array<RefSite & { reason: string }> = [];
    for (const site of this.refSites()) {
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(site.ref) && !site.ref.startsWith('file:')) {
        out.push({ ...site, reason: 'remote references are refused (only local files are loaded)' });
        continue;
      }
      const target = this.#resolveRef(site.file, site.ref);
      if (!target) {
        out.push({ ...site, reason: 'is not a valid reference' });
        continue;
      }
      const source = this.#source(target.file);
      if (!source) {
        out.push({ ...site, reason: `file ${target.file} cannot be read` });
        continue;
      }
      if (source.doc.errors.length > 0) {
        out.push({ ...site, reason: `file ${target.file} does not parse` });
        continue;
      }
      if (this.#walk(source, target.pointer) === undefined) out.push({ ...site, reason: `target #${target.pointer} does not exist` });
    }
    return out;
  }

  #resolveRef(file: string, ref: string): { file: string; pointer: string } | undefined {
    const hash = ref.indexOf('#');
    const filePart = hash === -1 ? ref : ref.slice(0, hash);
    let fragment = hash === -1 ? '' : ref.slice(hash + 1);
    try {
      fragment = decodeURIComponent(fragment);
    } catch {
      return undefined;
    }
    if (fragment !== '' && !fragment.startsWith('/')) return undefined;
    if (filePart === '') return { file, pointer: fragment };
    if (/^[a-z][a-z0-9+.-]*:/i.test(filePart) && !filePart.startsWith('file:')) return { file: filePart, pointer: fragment };
    const path = filePart.startsWith('file:') ? fileURLToPath(filePart) : resolve(dirname(file), decodeURIComponentSafe(filePart));
    return { file: path, pointer: fragment };
  }

  #walk(source: Source, pointer: string): Node | null | undefined {
    let node = source.doc.contents as Node | null;
    for (const token of splitPointer(pointer)) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === token);
        if (!pair) return undefined;
        node = pair.value as Node | null;
      } else if (isSeq(node) && /^\d+$/.test(token)) {
        node = (node.items[Number(token)] as Node | undefined) ?? null;
      } else {
        return undefined;
      }
    }
    return node;
  }

  #position(source: Source, node: Node | null): { line: number; column: number } | undefined {
    const offset = node?.range?.[0];
    if (offset === undefined) return undefined;
    const pos = source.lines.linePos(offset);
    return { line: pos.line, column: pos.col };
  }
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** `file:line:column` (or just `file`) plus the pointer, as config errors print it. */
export function formatPosition(position: SourcePosition): string {
  const where = position.line === undefined ? position.file : `${position.file}:${position.line}:${position.column}`;
  return `${where} #${position.pointer}`;
}
