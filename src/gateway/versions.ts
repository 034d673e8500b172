/**
 * API versions at request time (checklist items 10 and 15): which version a request names (header or media-type
 * parameter; path prefixes are routed by the route table itself), whether a path names an unknown version, and the
 * deprecation answer of a version or route: `Deprecation` (RFC 9745, `@<epoch seconds>`), `Sunset` (RFC 8594,
 * IMF-fixdate) and `Link` (RFC 8288) headers, brownout windows, and 410 Gone after the sunset.
 */
import type { IncomingMessage } from 'node:http';
import type { ApiRouteInfo, Deprecation } from '../config/apis.ts';
import type { RespondWithProblem } from '../policies/types.ts';

export type VersionIndicator = { kind: 'named'; version: string } | { kind: 'none' } | { kind: 'invalid'; reason: string };

const VERSION_TOKEN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;

/**
 * The version a request names for a header- or media-type-selected API. More than one indicator (a repeated
 * header, a list, several `version` parameters that disagree) is refused: two readings of one request must never
 * reach different versions.
 */
export function requestedVersion(req: IncomingMessage, api: ApiRouteInfo): VersionIndicator {
  if (api.selection === 'header') {
    const raw = req.rawHeaders;
    let found: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      if (raw[i]!.toLowerCase() !== api.header) continue;
      if (found !== undefined) return { kind: 'invalid', reason: `${api.header} sent more than once` };
      found = raw[i + 1]!.trim();
    }
    if (found === undefined || found === '') return { kind: 'none' };
    if (!VERSION_TOKEN.test(found)) return { kind: 'invalid', reason: `${api.header} is not a version token` };
    return { kind: 'named', version: found };
  }
  // media-type: `Accept: application/json; version=2` (RFC 9110 §12.5.1 media-range parameters).
  const accept = req.headers.accept;
  if (accept === undefined) return { kind: 'none' };
  let version: string | undefined;
  for (const range of accept.split(',')) {
    const params = range.split(';').slice(1);
    for (const param of params) {
      const eq = param.indexOf('=');
      if (eq === -1 || param.slice(0, eq).trim().toLowerCase() !== 'version') continue;
      const value = param.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
      if (!VERSION_TOKEN.test(value)) return { kind: 'invalid', reason: 'Accept version parameter is not a version token' };
      if (version !== undefined && version !== value) return { kind: 'invalid', reason: 'Accept names more than one version' };
      version = value;
    }
  }
  return version === undefined ? { kind: 'none' } : { kind: 'named', version };
}

/** The version answer when the request's indicator selects nothing (undefined: use `version`). */
export function versionProblem(api: ApiRouteInfo, indicator: VersionIndicator): RespondWithProblem | string {
  const supportedVersions = api.supported;
  if (indicator.kind === 'invalid') {
    return { kind: 'problem', code: 'RAMPART_ERR_VERSION_INVALID', detail: indicator.reason, extensions: { supportedVersions } };
  }
  if (indicator.kind === 'none') {
    if (api.defaultVersion !== undefined) return api.defaultVersion;
    return { kind: 'problem', code: 'RAMPART_ERR_VERSION_REQUIRED', detail: `no ${api.selection === 'header' ? api.header : 'Accept version'}`, extensions: { supportedVersions } };
  }
  if (!supportedVersions.includes(indicator.version)) {
    return { kind: 'problem', code: 'RAMPART_ERR_VERSION_UNKNOWN', detail: 'unknown version requested', extensions: { supportedVersions } };
  }
  return indicator.version;
}

/** RFC 9110 §5.6.7 IMF-fixdate, e.g. `Sun, 01 Mar 2027 00:00:00 GMT`. */
export function httpDate(epochMs: number): string {
  return new Date(epochMs).toUTCString();
}

export interface DeprecationAnswer {
  /** Headers for every answer of the deprecated version or route (flat list, lower-case names). */
  readonly headers: readonly string[];
  readonly link: string | undefined;
  readonly sunsetAt: number | undefined;
  readonly brownouts: Deprecation['brownouts'];
}

const answers = new WeakMap<Deprecation, DeprecationAnswer>();

/** The precomputed headers of a deprecation (built once per config, not per request). */
export function deprecationAnswer(deprecation: Deprecation): DeprecationAnswer {
  let answer = answers.get(deprecation);
  if (answer === undefined) {
    const headers = ['deprecation', `@${Math.floor(deprecation.deprecatedAt / 1000)}`];
    if (deprecation.sunsetAt !== undefined) headers.push('sunset', httpDate(deprecation.sunsetAt));
    if (deprecation.link !== undefined) {
      const links = [`<${deprecation.link}>; rel="deprecation"; type="text/html"`];
      if (deprecation.sunsetAt !== undefined) links.push(`<${deprecation.link}>; rel="sunset"; type="text/html"`);
      headers.push('link', links.join(', '));
    }
    answer = { headers, link: deprecation.link, sunsetAt: deprecation.sunsetAt, brownouts: deprecation.brownouts };
    answers.set(deprecation, answer);
  }
  return answer;
}

/** What a call at `now` gets: served with the headers, or refused (brownout, or after the sunset). */
export function deprecationRefusal(answer: DeprecationAnswer, now: number): RespondWithProblem | undefined {
  const extensions = answer.link === undefined ? {} : { link: answer.link };
  if (answer.sunsetAt !== undefined && now >= answer.sunsetAt) {
    return { kind: 'problem', code: 'RAMPART_ERR_VERSION_GONE', detail: 'called after its sunset', extensions: { ...extensions, sunset: httpDate(answer.sunsetAt) } };
  }
  for (const window of answer.brownouts) {
    if (now >= window.from && now < window.to) {
      return {
        kind: 'problem',
        code: 'RAMPART_ERR_VERSION_BROWNOUT',
        detail: 'called during a scheduled brownout',
        extensions: { ...extensions, ...(answer.sunsetAt === undefined ? {} : { sunset: httpDate(answer.sunsetAt) }), brownoutEnds: new Date(window.to).toISOString() },
      };
    }
  }
  return undefined;
}

/**
 * For a path no route matched: when it is a path of a path-versioned API under a prefix that is not one of its
 * versions (`/v9/orders` where `/v1/orders` exists), the versions to list in a 404. `matches` asks the route
 * table whether a path belongs to that API.
 */
export function unknownPathVersion(
  path: string,
  apis: ReadonlyArray<{ readonly api: string; readonly prefixes: readonly string[]; readonly supported: readonly string[] }>,
  matches: (path: string, api: string) => boolean,
): readonly string[] | undefined {
  for (const api of apis) {
    for (const prefix of api.prefixes) {
      const depth = prefix.split('/').length - 1;
      // Replace the request's first `depth` segments by a known prefix and ask whether that is the API's path.
      let at = 0;
      for (let d = 0; d < depth && at !== -1; d++) at = path.indexOf('/', at + 1);
      const rest = at === -1 ? '' : path.slice(at);
      const requested = at === -1 ? path : path.slice(0, at);
      if (api.prefixes.includes(requested)) continue;
      if (matches(prefix + rest, api.api)) return api.supported;
    }
  }
  return undefined;
}
