/**
 * `pii`: PII and secret detection on upstream responses (issue 5 item 4; OWASP API3:2023 excessive data exposure,
 * checklist item 16). It runs on the buffered response body (`onResponseBody`), after the upstream answered and
 * before anything reaches the client; the detectors and masking are in src/privacy/pii/.
 *
 * - `mask`: detected values in a JSON body are replaced in place (types kept), then the body goes on.
 * - `block`: the client gets a generic 502 problem (RAMPART_ERR_UPSTREAM_BAD_RESPONSE) and nothing of the body.
 * - `log`: the body goes on unchanged.
 *
 * Every mode emits a `pii.detected` event listing detector and JSON Pointer (at most 16, plus a count), never the
 * values; the problem's log detail names the first finding the same way.
 *
 * Fail closed: a JSON body that does not parse cannot be checked, so mask and block refuse it (502). Text bodies
 * (`text/*`, XML) are scanned too, but cannot be rewritten through the body view: mask refuses a text body that holds
 * PII rather than pass it on. Other media types (images, octet streams) are not scanned.
 */
import { isSupportedCountry, type CountryCode } from 'libphonenumber-js/max';
import { parseLocation } from '../../screening/pointer.ts';
import { PiiScanner, type PiiResult } from '../../privacy/pii/index.ts';
import type { ConfigIssue, Outcome, PolicyDefinition, PolicyDeps, PolicyHandlers, RequestContext, UpstreamBodyView } from '../types.ts';
import { PARSE_FAILED, problem } from '../types.ts';
import { piiSchema, type PiiConfig } from './schema.ts';

export { piiSchema, type PiiConfig } from './schema.ts';

function check(config: PiiConfig, path: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  config.allow.forEach((entry, index) => {
    const parsed = parseLocation(entry);
    if (!parsed.ok) issues.push({ path: `${path}.allow[${index}]`, message: `"${entry}" ${parsed.reason}` });
    else if (parsed.segments.length === 0 || (parsed.segments.length === 1 && parsed.segments[0] === '')) {
      issues.push({ path: `${path}.allow[${index}]`, message: `"${entry}" allows the whole body; turn the policy off instead (pii: false)` });
    }
  });
  config.phoneRegions.forEach((region, index) => {
    if (!isSupportedCountry(region)) issues.push({ path: `${path}.phoneRegions[${index}]`, message: `"${region}" is not a region with phone numbering metadata` });
  });
  return issues;
}

function isText(mediaType: string): boolean {
  return mediaType.startsWith('text/') || mediaType === 'application/xml' || mediaType.endsWith('+xml') || mediaType === 'application/x-www-form-urlencoded';
}

const TEXT_DECODER = new TextDecoder('utf-8');

export function createPiiHandlers(config: PiiConfig, deps: PolicyDeps): PolicyHandlers {
  const scanner = new PiiScanner({ detectors: config.detectors, allow: config.allow, phoneRegions: config.phoneRegions as CountryCode[] });
  const { events, routeId, logger } = deps;
  const mode = config.mode;
  const action = mode === 'mask' ? 'masked' : mode === 'block' ? 'blocked' : 'logged';
  const unparseable = Object.freeze(problem('RAMPART_ERR_UPSTREAM_BAD_RESPONSE', 'pii: the JSON body does not parse, so it cannot be checked'));

  function report(ctx: RequestContext, result: PiiResult, actionTaken: string): void {
    events.emit({
      type: 'pii.detected',
      severity: mode === 'log' ? 'medium' : 'high',
      requestId: ctx.requestId,
      routeId,
      clientAddress: ctx.clientAddress,
      details: { action: actionTaken, findings: result.findings, more: result.more },
    });
  }

  function refuse(result: PiiResult, why: string): Outcome {
    const first = result.findings[0]!;
    return problem('RAMPART_ERR_UPSTREAM_BAD_RESPONSE', `pii: ${first.detector} at ${first.location || '(body)'}${first.part === 'key' ? ' (member name)' : ''}: ${why}`);
  }

  return {
    wantsResponseBody(ctx: RequestContext): boolean {
      return ctx.method !== 'HEAD';
    },

    onResponseBody(ctx: RequestContext, view: UpstreamBodyView): Outcome {
      if (view.raw.length === 0) return undefined;
      const json = view.json;
      if (json === PARSE_FAILED) {
        if (mode === 'log') {
          logger.warn({ reqId: ctx.requestId, route: routeId }, 'pii: JSON body does not parse; passed on unchecked (log mode)');
          return undefined;
        }
        return unparseable;
      }
      const result: PiiResult = { findings: [], more: 0 };
      if (json !== undefined) {
        const masked = scanner.process(json, mode === 'mask', result);
        if (result.findings.length === 0) return undefined;
        report(ctx, result, action);
        if (mode === 'mask') {
          view.setJson(masked);
          return undefined;
        }
        return mode === 'block' ? refuse(result, 'response refused') : undefined;
      }
      if (!isText(view.mediaType)) return undefined;
      const spans = scanner.scanString(TEXT_DECODER.decode(view.raw));
      if (spans.length === 0) return undefined;
      for (const span of spans.slice(0, 16)) result.findings.push({ detector: span.detector, location: '', part: 'value' });
      result.more = Math.max(0, spans.length - 16);
      // A text body cannot be rewritten through the view: mask refuses it rather than let the values out.
      report(ctx, result, mode === 'log' ? 'logged' : 'blocked');
      return mode === 'log' ? undefined : refuse(result, `${view.mediaType} body cannot be masked, response refused`);
    },
  };
}

export const piiPolicy: PolicyDefinition<PiiConfig> = {
  name: 'pii',
  phase: 'validate',
  order: 30,
  schema: piiSchema,
  check,
  create: (config, deps) => createPiiHandlers(config, deps),
};
