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
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isMainThread, workerData } from 'node:worker_threads';

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
 * @param {string} file absolute path of the document
 * @param {number} timeoutMs bound on dereferencing time (the parser's own timer)
 * @returns {Promise<import('./parse-document.d.mts').ParseOutcome>}
 */
export async function parseOpenApiFile(file, timeoutMs = 60_000) {
  const { validate, bundle } = await import('@readme/openapi-parser');
  /** @type {Set<string>} */
  const files = new Set();
  /** @type {string | undefined} */
  let remote;
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
      return readFileSync(path);
    },
  };
  // `http.canRead: false` stops the parser's own downloader from trying after the local resolver refused.
  const resolve = { file: localOnly, http: { canRead: false } };
  try {
    const result = await validate(file, /** @type {never} */ ({ resolve, timeoutMs, validate: { rules: { openapi: AS_WARNING, swagger: AS_WARNING } } }));
    if (!result.valid && result.specification === null) {
      // A missing `$ref` target, or a document that is neither Swagger nor OpenAPI.
      return { ok: false, name: 'ReferenceOrFormatError', message: result.errors.map((e) => e.message).join('\n'), remote, files: [...files] };
    }
    const bundled = await bundle(file, /** @type {never} */ ({ resolve, timeoutMs }));
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
    return { ok: false, name: e?.name ?? 'Error', message: String(e?.message ?? error), source: e?.source, remote, files: [...files] };
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
