/**
 * `contract`: enforce a route's OpenAPI contract in both directions (issue 5 items 1, 2 and 4; checklist items 4
 * "input validation" and 16 "data exposure"; OWASP API3:2023 mass assignment and excessive data exposure, API8:2023).
 *
 * Requests (phase `validate`, after authentication and authorization):
 * - The canonical path (less `stripPrefix`) and method select an operation of the document; none is 404, a path
 *   declared for other methods 405 with `Allow` (unless `passthroughUnknownOperations`).
 * - `Accept` must be satisfiable by the operation's response media types (406), `Content-Type` must select one of
 *   its request media types (415); a body on an operation that declares none is 415.
 * - Parameters (path, query, header, cookie) are decoded by style/explode and validated with the operation's
 *   compiled ajv validator; undeclared query parameters are refused by default. JSON bodies go through the shared
 *   hardened reader (size, depth, duplicate and prototype keys), a byte-order mark is refused, and the schema check
 *   refuses undeclared properties, read-only properties, unsafe integers and non-finite numbers. Form bodies are
 *   decoded like the query; multipart bodies are parsed with part count and size limits.
 * - Failures are a 400 `RAMPART_ERR_REQUEST_INVALID` problem whose `errors` extension member (RFC 9457 §3.2) lists
 *   every failing location as `{ "pointer": "/body/items/3/qty", "rule": "must be <= 100" }`: a JSON pointer into
 *   the request and the rule, never the submitted value. The list is capped (validator.ts `MAX_REPORTED`, and the
 *   undeclared-property walk's own cap): a list that was cut carries the extension member `"truncated": true`. The same
 *   list goes to the log detail under the correlation id and to the `contract.request-invalid` event.
 * - Parameters and body are judged together, so one answer names every failure. Precedence, first match wins:
 *   406 (Accept); 415 (a body on an operation that takes none, or a Content-Type it does not declare: there is nothing
 *   to judge the body against); 413 (the body is over `maxBodySize`, or a multipart limit: it cannot be judged, so
 *   parameter failures are not listed; a body left unread closes the connection rather than being drained); then
 *   400 with parameter and body failures in one list. A body the strict reader refuses outright (not JSON, too deep,
 *   duplicate or prototype keys, not UTF-8, broken multipart) is the reader's generic 400 on its own, and one `/body`
 *   entry with the reader's reason when parameters failed too. Media types streamed unread are never read for this:
 *   their parameter failures are answered at once.
 *
 * Responses (`onResponseBody`, on the buffered and parsed upstream answer): properties not declared by the response
 * schema for the status are removed (default) or make the answer a 502 (`responses.undeclared: reject`); `writeOnly`
 * properties are always removed (minimize.ts). Every answer is checked; the `contract.response-undeclared` event is
 * raised once per operation, status and severity per minute, repeats counted (`RESPONSE_EVENT_COOLDOWN_MS`).
 *
 * The document is loaded and every validator compiled when the config is checked (synchronously: see
 * openapi/load.ts `loadOpenApiSync`); `create()` reuses that work, so the request path never compiles anything.
 */
import { resolve } from 'node:path';
import type { ConfigIssue, Outcome, PolicyDefinition, PolicyDeps, PolicyHandlers, RequestContext, RouteInfo, UpstreamBodyView } from '../types.ts';
import { CONTINUE, PARSE_FAILED, problem } from '../types.ts';
import { BodyError, readBody, readJson } from '../../gateway/body.ts';
import { MAX_RESPONSE_JSON_DEPTH, jsonTextOf, setJsonText, setMinimizedJson } from '../../gateway/response-body.ts';
import { parseSize } from '../../config/units.ts';
import { loadOpenApi, loadOpenApiSync, type LoadResult, type LocatedIssue } from '../../openapi/load.ts';
import { CompiledContract, add, isTruncated, responseFor, bodyKind, type CompiledMedia, type CompiledOperation, type ValidationSettings } from '../../openapi/validator.ts';
import { formatError, type ValidationError } from '../../openapi/json-schema.ts';
import { Minimizer, type MinimizeResult, type ResponseMode } from '../../openapi/minimize.ts';
import { INVALID_JSON, NEEDS_VALUE, minimizeJsonText } from '../../openapi/minimize-text.ts';
import type { SchemaAt } from '../../openapi/model.ts';
import { acceptable, isJsonMediaType, mediaTypeOf, selectMedia } from '../../openapi/media.ts';
import { parseMultipart } from '../../openapi/multipart.ts';
import { Cooldown } from '../../detect/state.ts';
import { contractSchema, type ContractConfig, type ContractOverride } from './schema.ts';

export { contractSchema, type ContractConfig } from './schema.ts';

/** `ctx.locals` key of the matched operation (read by `onResponseBody`, and by later phases that want it). */
export const CONTRACT_OPERATION_KEY = 'contract.operation';

/** What a request that matched an operation carries to the response side. */
export interface MatchedOperation {
  readonly operation: CompiledOperation;
  readonly responseMode: ResponseMode;
  /** Whether the answer must be buffered: minimization on, or writeOnly properties to remove. */
  readonly wantsResponseBody: boolean;
}


// --- config time --------------------------------------------------------------------------------------------------

function compileOptions(config: ContractConfig): { rejectUndeclaredQuery: boolean; rejectUndeclaredBody: boolean; operations: Map<string, Partial<ValidationSettings>> } {
  const operations = new Map<string, Partial<ValidationSettings>>();
  for (const [key, override] of Object.entries(config.operations)) {
    operations.set(key, {
      ...(override.undeclared?.query ? { rejectUndeclaredQuery: override.undeclared.query === 'reject' } : {}),
      ...(override.undeclared?.body ? { rejectUndeclaredBody: override.undeclared.body === 'reject' } : {}),
    });
  }
  return {
    rejectUndeclaredQuery: (config.undeclared.query ?? 'reject') === 'reject',
    rejectUndeclaredBody: (config.undeclared.body ?? 'reject') === 'reject',
    operations,
  };
}

type Built = { ok: true; contract: CompiledContract } | { ok: false; errors: readonly LocatedIssue[]; warnings: readonly LocatedIssue[] };

/**
 * Compiled contracts by document and settings: routes sharing a document and settings share one compiled contract,
 * and a config reload that leaves the document unchanged (same loaded object from the loader's cache) reuses it.
 */
const compiledCache = new Map<string, { loaded: LoadResult; built: Built }>();

function compileLoaded(loaded: LoadResult, config: ContractConfig): Built {
  if (!loaded.ok) return loaded;
  const options = compileOptions(config);
  const key = `${config.openapi}\0${JSON.stringify([options.rejectUndeclaredQuery, options.rejectUndeclaredBody, [...options.operations]])}`;
  const cached = compiledCache.get(key);
  if (cached && cached.loaded === loaded) return cached.built;
  const result = CompiledContract.compile(loaded.api, options);
  const built: Built = result.ok ? result : { ok: false, errors: result.errors, warnings: [...loaded.api.warnings, ...result.warnings] };
  compiledCache.set(key, { loaded, built });
  return built;
}

/** Contracts compiled by `check()`, handed to `create()` for the same config object. */
const prepared = new WeakMap<ContractConfig, CompiledContract>();

/** Where the document is: relative paths against the config file's directory when the loader says it. */
function documentPath(config: ContractConfig, route: RouteInfo): string {
  return resolve(route.baseDir ?? process.cwd(), config.openapi);
}

function pathOf(base: string, key: string): string {
  return /^[A-Za-z_$][\w$-]*$/.test(key) ? `${base}.${key}` : `${base}[${JSON.stringify(key)}]`;
}

function check(config: ContractConfig, path: string, route: RouteInfo): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  // Resolved once, in place (as the loader does for TLS files), so create() and the printed config agree.
  config.openapi = documentPath(config, route);
  const built = compileLoaded(loadOpenApiSync(config.openapi), config);
  const at = `${path}.openapi`;
  if (!built.ok) {
    for (const error of built.errors) issues.push({ path: at, message: error.text });
    for (const warning of built.warnings) issues.push({ path: at, message: warning.text, severity: 'warning' });
  } else {
    prepared.set(config, built.contract);
    for (const warning of built.contract.warnings) issues.push({ path: at, message: warning.text, severity: 'warning' });
  }
  // Weakened defaults: accepted only with an acknowledgement (posture lists each one).
  const weakenings = (base: string, settings: ContractOverride) => {
    if (settings.undeclared?.query === 'allow') {
      issues.push({ path: `${base}.undeclared.query`, rule: 'contract-undeclared-query', message: 'undeclared query parameters reach the upstream unchecked' });
    }
    if (settings.undeclared?.body === 'allow') {
      issues.push({ path: `${base}.undeclared.body`, rule: 'contract-undeclared-body', message: 'undeclared body properties reach the upstream (mass assignment)' });
    }
    if (settings.responses?.undeclared === 'allow') {
      issues.push({ path: `${base}.responses.undeclared`, rule: 'contract-responses-unfiltered', message: 'undeclared response properties reach clients (data exposure)' });
    }
  };
  weakenings(path, config);
  for (const [key, override] of Object.entries(config.operations)) weakenings(pathOf(`${path}.operations`, key), override);
  if (config.passthroughUnknownOperations) {
    issues.push({ path: `${path}.passthroughUnknownOperations`, rule: 'contract-passthrough', message: 'requests outside the document reach the upstream unchecked' });
  }
  return issues;
}

// --- request time -------------------------------------------------------------------------------------------------

/**
 * `contract.response-undeclared` is about the upstream, not about one request: an upstream that answers an undeclared
 * property answers it every time, and one line per response would flood the log and the audit chain (and cost more
 * CPU than the minimization itself). The first occurrence per operation, status and severity is emitted at once;
 * repeats within this time are counted and reported with the next one as `details.suppressed`, the convention the
 * detectors and alert webhooks share (src/detect/state.ts `Cooldown`). The minimization itself runs on every
 * response whatever the events say.
 */
export const RESPONSE_EVENT_COOLDOWN_MS = 60_000;

/** Headers of an answer sent while body bytes are still unread: the connection is closed, not drained. */
const CLOSE: Readonly<Record<string, string>> = Object.freeze({ connection: 'close' });

export interface ContractHandlerOptions {
  /** Monotonic milliseconds for the response event cool-down (tests move it on). */
  readonly now?: () => number;
}

export async function createContractHandlers(config: ContractConfig, deps: PolicyDeps, options: ContractHandlerOptions = {}): Promise<PolicyHandlers> {
  let contract = prepared.get(config);
  if (!contract) {
    // create() without check() (tests, programmatic use): load and compile now, failing at startup, never per request.
    const built = compileLoaded(await loadOpenApi(config.openapi), config);
    if (!built.ok) throw new Error(`contract: ${config.openapi}: ${built.errors.map((e) => e.text).join('; ')}`);
    contract = built.contract;
  }
  const { api } = contract;
  const minimizer = new Minimizer(api.model.document, api.model.version);
  // Response schemas the text minimizer gave up on (a plan depends on the data): their answers are parsed directly.
  const needsValue = new WeakSet<SchemaAt>();
  const defaultMode: ResponseMode = config.responses.undeclared ?? 'remove';
  const matched = new Map<CompiledOperation, MatchedOperation>();
  for (const operation of contract.operations) {
    const override = config.operations[operation.model.key] ?? config.operations[`${operation.model.method} ${operation.model.path}`];
    const responseMode = override?.responses?.undeclared ?? defaultMode;
    const writeOnly = operation.model.responses.some((r) => r.content.some((m) => m.schema !== undefined && minimizer.hasWriteOnly(m.schema)));
    // An operation that only answers non-JSON media types (event streams, downloads) streams as before: nothing in
    // it could be minimised, and buffering would break server-sent events.
    const media = operation.model.responses.flatMap((r) => r.content.map((m) => m.mediaType));
    const onlyOpaque = media.length > 0 && media.every((type) => !isJsonMediaType(type) && !type.includes('*'));
    matched.set(operation, { operation, responseMode, wantsResponseBody: (responseMode !== 'allow' && !onlyOpaque) || writeOnly });
  }
  const prefix = config.stripPrefix;
  const maxBody = parseSize(config.maxBodySize);
  const maxDepth = config.maxDepth;
  const multipart = { maxParts: config.multipart.maxParts, maxPartSize: parseSize(config.multipart.maxPartSize) };
  const passthrough = config.passthroughUnknownOperations;
  const now = options.now ?? (() => performance.now());
  // Keyed by operation, status and severity: bounded by the document (statuses are three digits).
  const responseEventCooldowns = new Map<string, Cooldown>();

  const reportUndeclaredResponse = (ctx: RequestContext, operation: CompiledOperation, status: number, mode: ResponseMode, result: MinimizeResult): void => {
    // Undeclared data leaving is the exposure signal; writeOnly removals alone are routine.
    const severity = result.undeclaredCount > 0 ? 'medium' : 'low';
    const key = `${operation.model.key}\0${status}\0${severity}`;
    let cooldown = responseEventCooldowns.get(key);
    if (cooldown === undefined) responseEventCooldowns.set(key, (cooldown = new Cooldown()));
    const at = now();
    if (!cooldown.admit(at, RESPONSE_EVENT_COOLDOWN_MS)) return;
    const suppressed = cooldown.raised(at);
    deps.events.emit({
      type: 'contract.response-undeclared',
      severity,
      requestId: ctx.requestId,
      routeId: ctx.routeId,
      details: { operation: operation.model.key, status, undeclared: result.undeclared, removed: result.removed, mode, ...(suppressed > 0 ? { suppressed } : {}) },
    });
  };

  // The answer claims JSON but is not: nothing can be minimised, so nothing is passed on (fail closed).
  const notJson = (entry: MatchedOperation, mode: ResponseMode, status: number): Outcome =>
    mode === 'allow' ? CONTINUE : problem('RAMPART_ERR_UPSTREAM_BAD_RESPONSE', `contract: ${entry.operation.model.key}: ${status} response is not valid JSON`);

  const undeclaredProblem = (entry: MatchedOperation, status: number, result: MinimizeResult): Outcome =>
    problem('RAMPART_ERR_UPSTREAM_BAD_RESPONSE', `contract: ${entry.operation.model.key}: ${status} response has undeclared ${result.undeclared.join(', ') || 'content'}`);

  const refuse = (ctx: RequestContext, operation: CompiledOperation, errors: readonly ValidationError[]): Outcome => {
    const lines = errors.map(formatError);
    // More failures than the list holds: said in the answer (an RFC 9457 §3.2 extension member), the log and the event.
    const truncated = isTruncated(errors);
    deps.events.emit({
      type: 'contract.request-invalid',
      severity: 'low',
      requestId: ctx.requestId,
      routeId: ctx.routeId,
      clientAddress: ctx.clientAddress,
      details: { operation: operation.model.key, errors: lines, ...(truncated ? { truncated } : {}) },
    });
    return problem('RAMPART_ERR_REQUEST_INVALID', `contract: ${operation.model.key}: ${lines.join('; ')}${truncated ? '; …' : ''}`, undefined, truncated ? { errors, truncated } : { errors });
  };

  /**
   * The body could not be read or parsed. Over a limit: 413, and when bytes are still unread the connection is closed
   * (Node would otherwise read and discard the rest of the body to keep the connection: up to the client's whole
   * Content-Length). Refused by the strict reader: its generic 400, or, when parameters failed too, one more entry of
   * the list (the reader's reasons are fixed texts, never the submitted bytes).
   */
  const bodyFailure = (ctx: RequestContext, operation: CompiledOperation, errors: ValidationError[], error: unknown): Outcome => {
    if (!(error instanceof BodyError)) throw error;
    if (errors.length > 0 && error.code === 'RAMPART_ERR_BAD_REQUEST') {
      add(errors, { pointer: '/body', rule: error.message });
      return refuse(ctx, operation, errors);
    }
    return bodyProblem(error, ctx.req.complete);
  };

  const bodyProblem = (error: BodyError, complete: boolean): Outcome =>
    problem(error.code, `contract: ${error.message}`, error.code === 'RAMPART_ERR_BODY_TOO_LARGE' && !complete ? CLOSE : undefined);

  /**
   * The JSON reader's refusal when no parameter failed, shared by all requests (no closure each): its 413s always leave
   * bytes unread (refused on the declared length, or once the bytes read pass the limit).
   */
  const jsonProblem = (error: unknown): Outcome => {
    if (!(error instanceof BodyError)) throw error;
    return bodyProblem(error, false);
  };

  /** JSON bodies, the hot path: one `then` on the shared reader, no async function around it. */
  const checkJson = (ctx: RequestContext, operation: CompiledOperation, media: CompiledMedia, errors: ValidationError[]): Promise<Outcome> =>
    // The shared reader refuses a byte order mark (RFC 8259 §8.1), as it refuses duplicate and prototype keys.
    readJson(ctx, maxBody, maxDepth).then(
      (value) => {
        operation.validateJson(media, value, errors);
        return errors.length > 0 ? refuse(ctx, operation, errors) : CONTINUE;
      },
      // `errors` holds the parameters' failures so far: a rejection then joins them (see bodyFailure).
      errors.length === 0 ? jsonProblem : (error: unknown) => bodyFailure(ctx, operation, errors, error),
    );

  const checkBody = async (ctx: RequestContext, operation: CompiledOperation, media: CompiledMedia, type: string, errors: ValidationError[]): Promise<Outcome> => {
    try {
      const kind = bodyKind(type);
      if (kind === 'form') {
        const bytes = await readBody(ctx, maxBody);
        let text: string;
        try {
          text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
        } catch {
          throw new BodyError('RAMPART_ERR_BAD_REQUEST', 'form body is not valid UTF-8');
        }
        operation.validateForm(media, text, errors);
      } else if (kind === 'multipart') {
        const bytes = await readBody(ctx, maxBody);
        const parts = await parseMultipart(bytes, ctx.req.headers['content-type'] ?? '', multipart);
        operation.validateMultipart(media, parts, errors);
      }
    } catch (error) {
      return bodyFailure(ctx, operation, errors, error);
    }
    if (errors.length > 0) return refuse(ctx, operation, errors);
    return CONTINUE;
  };

  return {
    onRequest(ctx: RequestContext): Outcome | Promise<Outcome> {
      // Routes of a versioned API: matched after the version prefix the gateway removed (apiPath).
      let path = ctx.apiPath ?? ctx.path;
      if (prefix !== undefined) {
        if (!path.startsWith(prefix) || path.charCodeAt(prefix.length) !== 0x2f /* / */) {
          return passthrough ? CONTINUE : problem('RAMPART_ERR_ROUTE_NOT_FOUND', `contract: ${ctx.method} ${path} is outside ${prefix}`);
        }
        path = path.slice(prefix.length);
      }
      const match = contract.index.match(ctx.method, path);
      if (match.kind === 'not-found') {
        return passthrough ? CONTINUE : problem('RAMPART_ERR_ROUTE_NOT_FOUND', `contract: no operation for ${ctx.method} ${path}`);
      }
      if (match.kind === 'method-not-allowed') {
        return passthrough ? CONTINUE : problem('RAMPART_ERR_METHOD_NOT_ALLOWED', `contract: ${ctx.method} not declared for ${path}`, { allow: match.allow.join(', ') });
      }
      const headers = ctx.req.headers;
      // Templates differing only in parameter names: the first candidate whose parameters fit.
      let operation = match.candidates[0]!.value;
      let errors: ValidationError[] = [];
      for (let i = 0; i < match.candidates.length; i++) {
        const candidate = match.candidates[i]!;
        const found: ValidationError[] = [];
        candidate.value.checkParameters(candidate.params, ctx.query, headers, found);
        if (found.length === 0 || i === 0) {
          operation = candidate.value;
          errors = found;
        }
        if (found.length === 0) break;
      }
      if (!acceptable(headers.accept, operation.produces)) {
        return problem('RAMPART_ERR_NOT_ACCEPTABLE', `contract: ${operation.model.key}: Accept not satisfiable (${operation.produces.join(', ')})`);
      }
      const length = headers['content-length'];
      const bodyPresent = (length !== undefined && length !== '0') || headers['transfer-encoding'] !== undefined;
      ctx.locals[CONTRACT_OPERATION_KEY] = matched.get(operation);
      if (!bodyPresent) {
        if (operation.bodyRequired) add(errors, { pointer: '/body', rule: 'is required' });
        return errors.length > 0 ? refuse(ctx, operation, errors) : CONTINUE;
      }
      if (!operation.hasBody) return problem('RAMPART_ERR_UNSUPPORTED_MEDIA_TYPE', `contract: ${operation.model.key} takes no request body`);
      const type = mediaTypeOf(headers['content-type']);
      const media = type === '' ? undefined : operation.selectMedia(type);
      if (!media) return problem('RAMPART_ERR_UNSUPPORTED_MEDIA_TYPE', `contract: ${operation.model.key} does not accept ${type || 'a body without Content-Type'}`);
      // JSON, form and multipart bodies are always parsed (strictly, with limits), with or without a schema, also when
      // parameters failed (their failures and the body's are one list: see the precedence at the top); other media
      // types stream through unread.
      const kind = bodyKind(type);
      if (kind === 'other') return errors.length > 0 ? refuse(ctx, operation, errors) : CONTINUE;
      if (kind === 'json') return checkJson(ctx, operation, media, errors);
      return checkBody(ctx, operation, media, type, errors);
    },

    wantsResponseBody(ctx: RequestContext): boolean {
      const entry = ctx.locals[CONTRACT_OPERATION_KEY] as MatchedOperation | undefined;
      return entry !== undefined && entry.wantsResponseBody && ctx.method !== 'HEAD';
    },

    onResponseBody(ctx: RequestContext, view: UpstreamBodyView): Outcome {
      const entry = ctx.locals[CONTRACT_OPERATION_KEY] as MatchedOperation | undefined;
      if (entry === undefined || (view.raw.length === 0 && view.json === undefined)) return CONTINUE;
      const mode = entry.responseMode;
      const response = responseFor(entry.operation.model, view.status);
      const media = response && view.mediaType !== '' ? selectMedia(response.content, view.mediaType) : undefined;
      const schema = media?.schema;
      // The usual case, a declared JSON schema: minimized on the text in one pass, without building the value.
      const text = schema === undefined || needsValue.has(schema) ? undefined : jsonTextOf(view);
      if (typeof text === 'string') {
        const minimized = minimizeJsonText(minimizer, schema!, text, mode, MAX_RESPONSE_JSON_DEPTH);
        if (minimized === INVALID_JSON) return notJson(entry, mode, view.status);
        if (minimized === NEEDS_VALUE) needsValue.add(schema!);
        else {
          const result = minimized.result;
          if (result.undeclaredCount > 0 || result.removed > 0) reportUndeclaredResponse(ctx, entry.operation, view.status, mode, result);
          if (mode === 'reject' && result.undeclaredCount > 0) return undeclaredProblem(entry, view.status, result);
          if (minimized.text !== undefined) setJsonText(view, minimized.text);
          return CONTINUE;
        }
      }
      if (view.json === PARSE_FAILED) {
        return notJson(entry, mode, view.status);
      }
      if (view.json === undefined) {
        // Not JSON: passes only when the document declares this media type for this status.
        if (mode === 'allow' || media !== undefined) return CONTINUE;
        return problem('RAMPART_ERR_UPSTREAM_BAD_RESPONSE', `contract: ${entry.operation.model.key}: ${view.status} ${view.mediaType || 'untyped'} response is not declared`);
      }
      const value = view.json;
      // Nothing declares a bare JSON value (a string, a number) answered for a status or media type without schema.
      const bare = schema === undefined && (value === null || typeof value !== 'object');
      const result: MinimizeResult = bare ? { changed: false, removed: 0, undeclared: mode === 'allow' ? [] : [''], undeclaredCount: mode === 'allow' ? 0 : 1, dirty: new Set() } : minimizer.minimize(schema, value, mode);
      if (result.undeclaredCount > 0 || result.removed > 0) reportUndeclaredResponse(ctx, entry.operation, view.status, mode, result);
      if (mode === 'reject' && result.undeclaredCount > 0) return undeclaredProblem(entry, view.status, result);
      if (bare && mode === 'remove') view.setJson(null);
      // Only members were removed: the gateway copies the rest of the upstream's text instead of serialising it all.
      else if (result.changed) setMinimizedJson(view, value, result.dirty);
      return CONTINUE;
    },
  };
}

export const contractPolicy: PolicyDefinition<ContractConfig> = {
  name: 'contract',
  phase: 'validate',
  order: 10,
  schema: contractSchema,
  check,
  create: (config, deps) => createContractHandlers(config, deps),
};
