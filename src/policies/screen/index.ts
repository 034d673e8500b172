/**
 * `screen`: injection screening of requests (issue 5 item 3; OWASP API8:2023 "Security Misconfiguration" and the
 * injection tests of OWASP WSTG 4.7). Phase `validate`, order 20: after the contract validation of the same phase
 * (which refuses what the schema can express), before the request is forwarded.
 *
 * What it looks for and how is in src/screening/; this file picks the places (query names and values, the body
 * read once by the shared hardened reader and kept for forwarding, path segments, named headers), applies the
 * allow-list, and turns findings into an outcome:
 *
 * - `block`: a generic 400 problem (RAMPART_ERR_BAD_REQUEST). The detector and location go to the log line under
 *   the correlation id and to an `injection.suspected` event; the client learns nothing about which rule fired.
 * - `log`: the same event (up to 16 findings), and the request goes on.
 *
 * Neither the event nor the log line ever contains the screened value (a location's segments are cut to 64
 * characters, and a finding in an object key names the object, not the key).
 */
import { BodyError, hasBody, readBody, readForm, readJson } from '../../gateway/body.ts';
import { parseSize } from '../../config/units.ts';
import { parseLocation, Screener, type Finding } from '../../screening/index.ts';
import type { ConfigIssue, Outcome, PolicyDefinition, PolicyDeps, PolicyHandlers, RequestContext } from '../types.ts';
import { problem } from '../types.ts';
import { screenSchema, type ScreenConfig } from './schema.ts';

export { screenSchema, type ScreenConfig } from './schema.ts';

/** The places an allow entry may start with, and the place name in `in` that screens it. */
function placeOf(first: string | undefined, second: string | undefined): string | undefined {
  if (first === 'query' || first === 'body' || first === 'path') return first;
  if (first === 'headers' && second !== undefined) return `headers:${second.toLowerCase()}`;
  return undefined;
}

function check(config: ScreenConfig, path: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const places = new Set(config.in.map((p) => (p.startsWith('headers:') ? p.toLowerCase() : p)));
  config.allow.forEach((entry, index) => {
    const at = `${path}.allow[${index}]`;
    if (!entry.startsWith('/')) {
      issues.push({ path: at, message: `"${entry}" must be a JSON Pointer starting with /query, /body, /path or /headers/<name>` });
      return;
    }
    const parsed = parseLocation(entry);
    if (!parsed.ok) {
      issues.push({ path: at, message: `"${entry}" ${parsed.reason}` });
      return;
    }
    const place = placeOf(parsed.segments[0], parsed.segments[1]);
    if (place === undefined) {
      issues.push({ path: at, message: `"${entry}" must start with /query, /body, /path or /headers/<name>` });
    } else if (!places.has(place)) {
      issues.push({ path: at, severity: 'warning', message: `"${entry}" is in ${place}, which this route does not screen (see in)` });
    } else if (parsed.segments.length === 1 || (place.startsWith('headers:') && parsed.segments.length === 2)) {
      issues.push({ path: at, severity: 'warning', message: `"${entry}" exempts all of ${place}; remove it from in instead` });
    }
  });
  return issues;
}

function mediaTypeOf(ctx: RequestContext): string {
  const header = ctx.req.headers['content-type'];
  if (header === undefined) return '';
  const semi = header.indexOf(';');
  return (semi === -1 ? header : header.slice(0, semi)).trim().toLowerCase();
}

const TEXT_DECODER = new TextDecoder('utf-8');

export function createScreenHandlers(config: ScreenConfig, deps: PolicyDeps): PolicyHandlers {
  const block = config.mode === 'block';
  const screener = new Screener(config.detectors, config.allow, block);
  const maxBodyBytes = parseSize(config.maxBodySize);
  const screenQuery = config.in.includes('query');
  const screenBody = config.in.includes('body');
  const screenPath = config.in.includes('path');
  const headerNames = config.in.filter((p) => p.startsWith('headers:')).map((p) => p.slice('headers:'.length).toLowerCase());
  const { events, routeId, logger } = deps;

  function outcome(ctx: RequestContext, findings: Finding[]): Outcome {
    if (findings.length === 0) return undefined;
    events.emit({
      type: 'injection.suspected',
      severity: block ? 'high' : 'medium',
      requestId: ctx.requestId,
      routeId,
      clientAddress: ctx.clientAddress,
      details: { action: block ? 'blocked' : 'logged', findings },
    });
    if (!block) return undefined;
    const first = findings[0]!;
    return problem('RAMPART_ERR_BAD_REQUEST', `screen: ${first.detector} at ${first.location}${first.part === 'key' ? ' (member name)' : ''}`);
  }

  /** Query, path and headers: synchronous. Returns false once no more findings are wanted. */
  function screenHead(ctx: RequestContext, findings: Finding[]): boolean {
    if (screenPath && !screenPathSegments(ctx, findings)) return false;
    if (screenQuery && ctx.query !== '' && !screener.scanPairs(new URLSearchParams(ctx.query), 'query', findings)) return false;
    for (const name of headerNames) {
      const value = ctx.req.headers[name];
      if (value === undefined) continue;
      for (const one of Array.isArray(value) ? value : [value]) {
        if (!screener.scanValue(one, ['headers', name], findings)) return false;
      }
    }
    return true;
  }

  /** Each path segment, named after the route parameter it fills (`/path/orderId`) or by position (`/path/2`). */
  function screenPathSegments(ctx: RequestContext, findings: Finding[]): boolean {
    const segments = ctx.path.split('/');
    const names = new Map<string, string>();
    for (const [name, value] of Object.entries(ctx.params)) names.set(value, name);
    for (let i = 1; i < segments.length; i++) {
      const segment = segments[i]!;
      if (segment === '') continue;
      if (!screener.scanValue(segment, ['path', names.get(segment) ?? String(i - 1)], findings)) return false;
    }
    return true;
  }

  async function screenBodyOf(ctx: RequestContext, findings: Finding[]): Promise<Outcome> {
    const type = mediaTypeOf(ctx);
    try {
      if (type === 'application/json' || type.endsWith('+json')) {
        screener.scanJson(await readJson(ctx, maxBodyBytes), ['body'], findings);
      } else if (type === 'application/x-www-form-urlencoded') {
        screener.scanPairs(await readForm(ctx, maxBodyBytes), 'body', findings);
      } else if (type.startsWith('text/') || type === '') {
        // Text, and bodies without a declared type (an upstream may sniff them as JSON or a form): one string.
        screener.scanValue(TEXT_DECODER.decode(await readBody(ctx, maxBodyBytes)), ['body'], findings);
      } else {
        // Binary and multipart bodies are not screened here (multipart parts: the contract validation reads them).
        logger.debug({ reqId: ctx.requestId, route: routeId, mediaType: type.slice(0, 64) }, 'screen: body media type not screened');
      }
    } catch (error) {
      if (error instanceof BodyError) return problem(error.code, `screen: body refused: ${error.message}`);
      throw error;
    }
    return outcome(ctx, findings);
  }

  return {
    onRequest(ctx: RequestContext): Outcome | Promise<Outcome> {
      const findings: Finding[] = [];
      const going = screenHead(ctx, findings);
      if (!going || !screenBody || !hasBody(ctx.req.headers)) return outcome(ctx, findings);
      return screenBodyOf(ctx, findings);
    },
  };
}

export const screenPolicy: PolicyDefinition<ScreenConfig> = {
  name: 'screen',
  phase: 'validate',
  order: 20,
  schema: screenSchema,
  check,
  create: (config, deps) => createScreenHandlers(config, deps),
};
