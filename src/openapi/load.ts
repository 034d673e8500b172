/**
 * Loading an OpenAPI document (issue 5 item 1): Swagger 2.0, OpenAPI 3.0 or 3.1, YAML or JSON, local files, with
 * internal and external `$ref`s resolved, normalised into the operation model.
 *
 * - Parsing, validation against the official schemas and bundling are @readme/openapi-parser's (parse-document.mjs).
 * - Errors make enforcement impossible (the document does not parse, a `$ref` cannot be resolved, the structure or a
 *   schema is invalid); warnings do not (duplicate operationIds, metadata such as `info`, `tags`, `servers`).
 *   Each names the file, the JSON pointer and the line (locate.ts).
 * - Circular `$ref`s are normal in real documents: the bundled document keeps them as `$ref` strings and every walk
 *   over schemas in this folder is bounded, so nothing loops or recurses without end.
 *
 * `loadOpenApi` is asynchronous. The config loader's checks are synchronous, so `loadOpenApiSync` runs the same
 * parser step in a worker thread and blocks on an `Atomics.wait` until it answers (the parser has no synchronous
 * API). Results are cached per file while neither it nor any file it references changed (size and mtime), so routes
 * sharing one document and config reloads that leave it alone parse it once.
 */
import { readFileSync, statSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { MessageChannel, Worker, receiveMessageOnPort } from 'node:worker_threads';
import type { ErrorObject } from 'ajv';
import { MAX_DOCUMENT_DEPTH, officialSchemaValidator, parseOpenApiFile, type ParseOutcome } from './parse-document.mjs';
import type { ApiModel, LoadIssue } from './model.ts';
import { detectVersion, normalize } from './normalize.ts';
import { isObject } from './pointer.ts';
import { SourceLocator, formatPosition, type SourcePosition } from './locate.ts';
import { deeperThan } from '../config/nesting.ts';

export interface LocatedIssue extends LoadIssue {
  readonly position: SourcePosition;
  /** `file:line:column #/pointer: message`, as config errors print it. */
  readonly text: string;
}

export interface LoadedOpenApi {
  /** Absolute path of the document. */
  readonly file: string;
  readonly model: ApiModel;
  readonly warnings: readonly LocatedIssue[];
  /** Every local file the document is made of. */
  readonly files: readonly string[];
  /** Positions of later findings (e.g. a schema that does not compile) in the source files. */
  locate(pointer: string): SourcePosition;
  /** `LocatedIssue` for a finding at a pointer of the bundled document. */
  issue(severity: 'error' | 'warning', pointer: string, message: string): LocatedIssue;
}

export type LoadResult =
  | { readonly ok: true; readonly api: LoadedOpenApi }
  | { readonly ok: false; readonly errors: readonly LocatedIssue[]; readonly warnings: readonly LocatedIssue[] };

export interface LoadOptions {
  /** Upper bound on parsing and dereferencing time. */
  readonly timeoutMs?: number;
  /**
   * Neither use nor fill the per-file cache: tests that rewrite files within one mtime tick, and one-off loads such as
   * a static audit of many documents, which would otherwise keep every document, model and source index alive.
   */
  readonly noCache?: boolean;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const WORKER_URL = new URL('./parse-document.mjs', import.meta.url);

/**
 * Refuses a document nested deeper than MAX_DOCUMENT_DEPTH before the parser or the locator walk it: deep enough
 * nesting aborts the process inside them (config/nesting.ts), where no error can be caught. Undefined: go on (an
 * unreadable file is left for the parser to report).
 */
function tooDeep(path: string): LoadResult | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const line = deeperThan(text, MAX_DOCUMENT_DEPTH);
  if (line === undefined) return undefined;
  const position: SourcePosition = { file: path, pointer: '', line, column: 1 };
  const message = `nested deeper than ${MAX_DOCUMENT_DEPTH} levels`;
  return { ok: false, errors: [{ severity: 'error', pointer: '', message, position, text: `${formatPosition(position)}: ${message}` }], warnings: [] };
}

/**
 * The cache is asked first: an entry is kept only for a document that loaded (so passed the depth check) and only
 * while none of its files changed (size and mtime), and reading and scanning every file again on each call cost the
 * docs route about 25 ms a request for four large documents (the merged document re-checks its files per request).
 */
export async function loadOpenApi(file: string, options: LoadOptions = {}): Promise<LoadResult> {
  const path = resolvePath(file);
  const cached = options.noCache ? undefined : fromCache(path);
  if (cached !== undefined) return cached;
  const deep = tooDeep(path);
  if (deep !== undefined) return deep;
  if (options.noCache) return finish(path, await parseOpenApiFile(path, options.timeoutMs ?? DEFAULT_TIMEOUT_MS));
  return remember(path, finish(path, await parseOpenApiFile(path, options.timeoutMs ?? DEFAULT_TIMEOUT_MS)));
}

/** `loadOpenApi` for synchronous callers (config checks): the parser runs in a worker while this thread waits. */
export function loadOpenApiSync(file: string, options: LoadOptions = {}): LoadResult {
  const path = resolvePath(file);
  const cached = options.noCache ? undefined : fromCache(path);
  if (cached !== undefined) return cached;
  const deep = tooDeep(path);
  if (deep !== undefined) return deep;
  if (options.noCache) return finish(path, parseInWorker(path, options.timeoutMs ?? DEFAULT_TIMEOUT_MS));
  return remember(path, finish(path, parseInWorker(path, options.timeoutMs ?? DEFAULT_TIMEOUT_MS)));
}

function parseInWorker(file: string, timeoutMs: number): ParseOutcome {
  const signal = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  let worker: Worker;
  try {
    worker = new Worker(WORKER_URL, {
      workerData: { kind: 'rampart.openapi-parse', file, timeoutMs, signal, port: port2 },
      transferList: [port2],
      // A hostile or huge document must not take the gateway's memory with it.
      resourceLimits: { maxOldGenerationSizeMb: 2048 },
      stdout: true,
      stderr: true,
    });
  } catch (error) {
    port1.close();
    return { ok: false, name: 'WorkerError', message: `cannot start the parser thread: ${(error as Error).message}`, files: [] };
  }
  worker.unref();
  try {
    // The worker always answers (parse-document.mjs catches everything); the timeout only guards a crash.
    const state = Atomics.wait(signal, 0, 0, timeoutMs + 5_000);
    const answer = receiveMessageOnPort(port1);
    if (answer) return answer.message as ParseOutcome;
    return { ok: false, name: 'TimeoutError', message: state === 'timed-out' ? `parsing took longer than ${timeoutMs} ms` : 'the parser thread ended without an answer', files: [] };
  } finally {
    port1.close();
    void worker.terminate();
  }
}

// --- cache ------------------------------------------------------------------------------------------------------

const cache = new Map<string, { signature: string; files: readonly string[]; result: LoadResult }>();

function signatureOf(files: readonly string[]): string | undefined {
  let out = '';
  for (const file of files) {
    try {
      const stat = statSync(file);
      out += `${file}\0${stat.size}\0${stat.mtimeMs}\n`;
    } catch {
      return undefined;
    }
  }
  return out;
}

function fromCache(path: string): LoadResult | undefined {
  const entry = cache.get(path);
  if (!entry) return undefined;
  if (signatureOf(entry.files) === entry.signature) return entry.result;
  cache.delete(path);
  return undefined;
}

function remember(path: string, result: LoadResult): LoadResult {
  if (result.ok) {
    const signature = signatureOf(result.api.files);
    if (signature !== undefined) cache.set(path, { signature, files: result.api.files, result });
  }
  return result;
}

// --- turning the parser's outcome into a model or located issues ------------------------------------------------

function finish(file: string, outcome: ParseOutcome): LoadResult {
  const locator = new SourceLocator(file);
  const locate = (pointer: string) => locator.locate(pointer);
  const make = (severity: 'error' | 'warning', pointer: string, message: string, position?: SourcePosition): LocatedIssue => {
    const at = position ?? locate(pointer);
    return { severity, pointer, message, position: at, text: `${formatPosition(at)}: ${message}` };
  };
  if (!outcome.ok) {
    const errors = failureIssues(file, outcome, locator, make);
    return { ok: false, errors, warnings: [] };
  }
  const issues: LoadIssue[] = [];
  const document = outcome.bundled;
  if (!isObject(document)) return { ok: false, errors: [make('error', '', 'the document is not an object')], warnings: [] };
  if (!outcome.valid) issues.push(...schemaIssues(document, outcome.errors));
  for (const message of outcome.warnings) {
    // Duplicate operationIds are reported by normalize() with their pointer.
    if (/^The operationId `/.test(message)) continue;
    issues.push({ severity: 'warning', pointer: '', message: firstLine(message) });
  }
  const model = normalize(document, issues);
  const located = issues.map((i) => make(i.severity, i.pointer, i.message));
  const errors = located.filter((i) => i.severity === 'error');
  const warnings = located.filter((i) => i.severity === 'warning');
  if (errors.length > 0 || !model) return { ok: false, errors, warnings };
  return {
    ok: true,
    api: { file, model, warnings, files: outcome.files.length > 0 ? outcome.files : [file], locate, issue: (s, p, m) => make(s, p, m) },
  };
}

type Make = (severity: 'error' | 'warning', pointer: string, message: string, position?: SourcePosition) => LocatedIssue;

function failureIssues(file: string, outcome: Extract<ParseOutcome, { ok: false }>, locator: SourceLocator, make: Make): LocatedIssue[] {
  const message = firstLine(outcome.message);
  if (!exists(file)) {
    return [make('error', '', 'file cannot be read', { file, pointer: '' })];
  }
  // First: nothing below may read a file this deep (the locator's YAML reader would abort on it like the parser).
  if (outcome.tooDeep) {
    const { file: deepFile, line } = outcome.tooDeep;
    return [make('error', '', `nested deeper than ${MAX_DOCUMENT_DEPTH} levels`, { file: deepFile, pointer: '', line, column: 1 })];
  }
  if (outcome.name === 'ParserError' || outcome.name === 'SyntaxError' || /Error parsing /.test(outcome.message)) {
    // Which file failed to parse: the parser's message names it; `yaml` gives the exact position.
    for (const candidate of [file, ...outcome.files]) {
      const syntax = locator.syntaxError(candidate);
      if (syntax) return [make('error', '', `does not parse: ${syntax.message}`, syntax)];
    }
    return [make('error', '', `does not parse: ${message}`, { file, pointer: '' })];
  }
  if (outcome.name === 'ResolverError' || outcome.name === 'MissingPointerError' || outcome.name === 'ReferenceOrFormatError') {
    const broken = locator.brokenRefs();
    if (broken.length > 0) {
      return broken.map((site) => make('error', site.pointer, `$ref ${JSON.stringify(site.ref)}: ${site.reason}`, site));
    }
    if (/not a valid API definition/.test(outcome.message)) {
      return [make('error', '', 'not a Swagger 2.0, OpenAPI 3.0 or OpenAPI 3.1 document', { file, pointer: '' })];
    }
  }
  if (outcome.remote) return [make('error', '', `remote $ref ${outcome.remote} refused (only local files are loaded)`, { file, pointer: '' })];
  return [make('error', '', message, { file, pointer: '' })];
}

function exists(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch {
    return false;
  }
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.trim();
}

/**
 * Top-level members that describe the API without changing what is enforced: a schema failure there is a warning.
 * Same for descriptive leaves anywhere (`description`, `summary`, `example`s, `externalDocs`, `tags`).
 */
const METADATA_ROOTS = new Set(['info', 'tags', 'externalDocs', 'servers', 'webhooks', 'securityDefinitions', 'security', 'jsonSchemaDialect', 'host', 'basePath', 'schemes']);
const METADATA_LEAVES = new Set(['description', 'summary', 'example', 'examples', 'externalDocs', 'tags', 'deprecated', 'xml', 'servers', 'links', 'callbacks', 'security', 'contact', 'license']);

function isMetadata(pointer: string): boolean {
  const tokens = pointer.split('/').slice(1);
  if (tokens.length === 0) return false;
  if (METADATA_ROOTS.has(tokens[0]!) || tokens[0]!.startsWith('x-')) return true;
  if (tokens[0] === 'components' && tokens[1] === 'securitySchemes') return true;
  return tokens.some((t) => METADATA_LEAVES.has(t) || t.startsWith('x-'));
}

/**
 * The parser says the document fails its Swagger/OpenAPI schema, but its messages carry no pointer. The same
 * official schema validator (the parser's own, see parse-document.mjs) is run here on the failure path only, on the
 * bundled document, to name each failing node; failures in metadata are warnings.
 */
function schemaIssues(document: Record<string, unknown>, parserErrors: readonly string[]): LoadIssue[] {
  let errors: ErrorObject[] = [];
  try {
    // A document of no known version is checked against the 3.0 schema, as the parser does.
    const version = detectVersion(document);
    const validate = officialSchemaValidator(version === '3.1' || version === '2.0' ? version : '3.0');
    if (!validate(document)) errors = validate.errors ?? [];
  } catch {
    errors = [];
  }
  const noise = new Set(["must have required property '$ref'", 'must match exactly one schema in oneOf', 'must match a schema in anyOf', 'must match "then" schema', 'must NOT be valid']);
  const meaningful = errors.filter((e) => !noise.has(e.message ?? ''));
  const candidates = meaningful.length > 0 ? meaningful : errors;
  // Keep the deepest failure of each branch: `/paths/~1a/get` failing because `/paths/~1a/get/responses` does.
  const kept = candidates.filter((e) => !candidates.some((o) => o !== e && o.instancePath.startsWith(`${e.instancePath}/`)));
  const seen = new Set<string>();
  const out: LoadIssue[] = [];
  for (const e of kept) {
    const key = `${e.instancePath} ${e.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ severity: isMetadata(e.instancePath) ? 'warning' : 'error', pointer: e.instancePath, message: `${e.message ?? 'is invalid'} (${e.schemaPath})` });
  }
  if (out.length === 0) {
    // Could not reproduce the parser's verdict: keep its first message, fail closed.
    out.push({ severity: 'error', pointer: '', message: firstLine(parserErrors[0] ?? 'the document does not match the OpenAPI schema') });
  }
  return out.slice(0, 50);
}
