/**
 * The CSP violation report endpoint (the target of `security-headers.reportUri`). It takes both wire formats:
 * - CSP Level 2 `report-uri`: one `{"csp-report": {...}}` object, `Content-Type: application/csp-report`
 *   (CSP2 §4.4 "Reporting");
 * - the Reporting API `report-to`: a JSON array of reports, `Content-Type: application/reports+json`, of which only
 *   `type: "csp-violation"` entries are used (CSP3 §5.3, Reporting API §3.4).
 *
 * The endpoint is public by nature (browsers send no credentials) and its input is attacker-controlled, so it is
 * hardened like any parser: the body is capped while it streams in, the media type is checked before reading,
 * at most MAX_REPORTS_PER_BODY reports count, and an event carries only whitelisted, reduced fields. Report URLs
 * routinely carry tokens, session ids and personal data in query strings (document-uri after an OAuth redirect,
 * blocked-uri of a tracking pixel), so URLs are cut to origin + path (document) or origin only (blocked), and the full
 * report is never logged (OWASP Logging Cheat Sheet "data to exclude").
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { ERRORS, PROBLEM_CONTENT_TYPE, problemBody, type ErrorCode } from '../../errors/catalogue.ts';
import type { SecurityEvents } from '../../observe/events.ts';
import { parseUrl } from '../../text/url.ts';

export interface CspReportHandlerOptions {
  /** Largest body accepted, in bytes (default 16384). */
  readonly maxBytes?: number;
  readonly events: SecurityEvents;
  readonly logger: Logger;
}

export interface CspReportRequestContext {
  readonly requestId: string;
  readonly clientAddress: string;
}

export type CspReportHandler = (req: IncomingMessage, res: ServerResponse, ctx: CspReportRequestContext) => void;

export const DEFAULT_CSP_REPORT_MAX_BYTES = 16_384;
/** Reporting API batches several reports per POST; more than this many in one body are ignored. */
export const MAX_REPORTS_PER_BODY = 20;

const CSP2_MEDIA_TYPE = 'application/csp-report';
const REPORTING_API_MEDIA_TYPE = 'application/reports+json';
const MAX_URL_IN_EVENT = 512;
const DIRECTIVE_NAME = /^[a-z][a-z0-9-]{0,63}$/;
/** CSP3 §5.3 blocked URL keywords (`inline`, `eval`, `wasm-eval`, `trusted-types-policy`, ...). */
const BLOCKED_KEYWORD = /^[a-z][a-z0-9-]{0,31}$/;

/** The fields a `csp.violation` event may carry. Everything else in a report is dropped. (A type literal, not an
 * interface, so it is assignable to the event's `details` record.) */
export type CspViolationDetails = {
  format: 'csp2' | 'reporting-api';
  documentUri?: string;
  violatedDirective?: string;
  effectiveDirective?: string;
  blockedUri?: string;
  disposition?: 'enforce' | 'report';
  statusCode?: number;
};

type Parsed = { readonly ok: true; readonly reports: CspViolationDetails[] } | { readonly ok: false; readonly reason: string };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Own string property only: `__proto__`, `constructor` and inherited members never count as report fields. */
function ownString(record: Record<string, unknown>, key: string): string | undefined {
  if (!Object.hasOwn(record, key)) return undefined;
  const value = record[key];
  return typeof value === 'string' ? value : undefined;
}

function ownNumber(record: Record<string, unknown>, key: string): number | undefined {
  if (!Object.hasOwn(record, key)) return undefined;
  const value = record[key];
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 999 ? value : undefined;
}

function truncate(text: string): string {
  return text.length > MAX_URL_IN_EVENT ? text.slice(0, MAX_URL_IN_EVENT) : text;
}

/** origin + path; no userinfo, query or fragment. Unparseable values are dropped rather than guessed at. */
function documentLocation(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = parseUrl(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return url.protocol.slice(0, -1);
  return truncate(url.origin + url.pathname);
}

/** The origin of a blocked resource, or its scheme (`data`, `blob`) or CSP3 keyword (`inline`, `eval`). */
function blockedLocation(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (BLOCKED_KEYWORD.test(value)) return value;
  let url: URL;
  try {
    url = parseUrl(value);
  } catch {
    return undefined;
  }
  return url.origin !== 'null' ? truncate(url.origin) : url.protocol.slice(0, -1);
}

/** CSP2 sends "script-src 'self'" (the whole directive) in violated-directive: keep the name only. */
function directiveName(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const space = value.indexOf(' ');
  const name = (space === -1 ? value : value.slice(0, space)).toLowerCase();
  return DIRECTIVE_NAME.test(name) ? name : undefined;
}

function disposition(value: string | undefined): 'enforce' | 'report' | undefined {
  return value === 'enforce' || value === 'report' ? value : undefined;
}

function withoutUndefined(details: CspViolationDetails): CspViolationDetails {
  for (const key of Object.keys(details) as Array<keyof CspViolationDetails>) {
    if (details[key] === undefined) delete details[key];
  }
  return details;
}

/** CSP2 report body fields (CSP2 §4.4): hyphenated names. */
function fromCsp2(report: Record<string, unknown>): CspViolationDetails {
  return withoutUndefined({
    format: 'csp2',
    documentUri: documentLocation(ownString(report, 'document-uri')),
    violatedDirective: directiveName(ownString(report, 'violated-directive')),
    effectiveDirective: directiveName(ownString(report, 'effective-directive')),
    blockedUri: blockedLocation(ownString(report, 'blocked-uri')),
    disposition: disposition(ownString(report, 'disposition')),
    statusCode: ownNumber(report, 'status-code'),
  });
}

/** Reporting API `CSPViolationReportBody` fields (CSP3 §5.3): camelCase names. */
function fromReportingApi(body: Record<string, unknown>): CspViolationDetails {
  return withoutUndefined({
    format: 'reporting-api',
    documentUri: documentLocation(ownString(body, 'documentURL')),
    effectiveDirective: directiveName(ownString(body, 'effectiveDirective')),
    blockedUri: blockedLocation(ownString(body, 'blockedURL')),
    disposition: disposition(ownString(body, 'disposition')),
    statusCode: ownNumber(body, 'statusCode'),
  });
}

export function parseCspReports(mediaType: typeof CSP2_MEDIA_TYPE | typeof REPORTING_API_MEDIA_TYPE, json: unknown): Parsed {
  if (mediaType === CSP2_MEDIA_TYPE) {
    if (!isRecord(json) || !Object.hasOwn(json, 'csp-report') || !isRecord(json['csp-report'])) {
      return { ok: false, reason: 'not a {"csp-report": {...}} object' };
    }
    return { ok: true, reports: [fromCsp2(json['csp-report'])] };
  }
  if (!Array.isArray(json)) return { ok: false, reason: 'not a JSON array of reports' };
  const reports: CspViolationDetails[] = [];
  // Only the first MAX_REPORTS_PER_BODY entries are even looked at: one POST can cause at most that many events.
  const limit = Math.min(json.length, MAX_REPORTS_PER_BODY);
  for (let i = 0; i < limit; i++) {
    const entry: unknown = json[i];
    if (!isRecord(entry) || ownString(entry, 'type') !== 'csp-violation') continue;
    if (!Object.hasOwn(entry, 'body') || !isRecord(entry.body)) continue;
    reports.push(fromReportingApi(entry.body));
  }
  return { ok: true, reports };
}

/** The media type without parameters, lower case (RFC 9110 §8.3.1: type and subtype are case-insensitive). */
function mediaTypeOf(header: string | undefined): string {
  if (header === undefined) return '';
  const semicolon = header.indexOf(';');
  return (semicolon === -1 ? header : header.slice(0, semicolon)).trim().toLowerCase();
}

export function createCspReportHandler(options: CspReportHandlerOptions): CspReportHandler {
  const maxBytes = options.maxBytes ?? DEFAULT_CSP_REPORT_MAX_BYTES;
  const { events, logger } = options;

  function answerProblem(
    res: ServerResponse,
    code: ErrorCode,
    requestId: string,
    extra?: Record<string, string>,
  ): void {
    if (res.headersSent) return;
    const body = problemBody(code, requestId);
    res.writeHead(ERRORS[code].status, {
      'content-type': PROBLEM_CONTENT_TYPE,
      'content-length': String(Buffer.byteLength(body)),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'x-request-id': requestId,
      ...extra,
    });
    res.end(body);
  }

  return function handleCspReport(req, res, ctx) {
    const { requestId } = ctx;
    if (req.method !== 'POST') {
      answerProblem(res, 'RAMPART_ERR_METHOD_NOT_ALLOWED', requestId, { allow: 'POST' });
      return;
    }
    const mediaType = mediaTypeOf(req.headers['content-type']);
    if (mediaType !== CSP2_MEDIA_TYPE && mediaType !== REPORTING_API_MEDIA_TYPE) {
      answerProblem(res, 'RAMPART_ERR_UNSUPPORTED_MEDIA_TYPE', requestId);
      return;
    }
    const declaredLength = req.headers['content-length'];
    if (declaredLength !== undefined && Number(declaredLength) > maxBytes) {
      // Refuse before reading a byte; close the connection so the unread body is not parsed as the next request.
      answerProblem(res, 'RAMPART_ERR_BODY_TOO_LARGE', requestId, { connection: 'close' });
      return;
    }

    const chunks: Buffer[] = [];
    let received = 0;
    let finished = false;
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > maxBytes) {
        // Stop reading: nothing more is buffered, and the connection closes after the answer.
        finished = true;
        req.off('data', onData);
        req.pause();
        logger.debug({ requestId, received, maxBytes }, 'csp report refused: body too large');
        answerProblem(res, 'RAMPART_ERR_BODY_TOO_LARGE', requestId, { connection: 'close' });
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('error', () => {
      finished = true;
    });
    req.on('end', () => {
      if (finished) return;
      finished = true;
      let json: unknown;
      try {
        json = JSON.parse(Buffer.concat(chunks, received).toString('utf8'));
      } catch {
        // SyntaxError, or RangeError on pathological nesting: the same answer either way.
        logger.debug({ requestId }, 'csp report refused: invalid JSON');
        answerProblem(res, 'RAMPART_ERR_MALFORMED_REQUEST', requestId);
        return;
      }
      const parsed = parseCspReports(mediaType, json);
      if (!parsed.ok) {
        logger.debug({ requestId, reason: parsed.reason }, 'csp report refused');
        answerProblem(res, 'RAMPART_ERR_MALFORMED_REQUEST', requestId);
        return;
      }
      for (const details of parsed.reports) {
        events.emit({
          type: 'csp.violation',
          severity: 'low',
          requestId,
          clientAddress: ctx.clientAddress,
          details,
        });
      }
      res.writeHead(204, { 'cache-control': 'no-store', 'x-request-id': requestId });
      res.end();
    });
  };
}
