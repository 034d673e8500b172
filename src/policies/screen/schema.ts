/**
 * Config schema of the `screen` policy (route key `screen:`): injection screening of requests (issue 5 item 3).
 * The semantic checks (allow entries parse as locations inside a screened place) are in index.ts `check()`.
 */
import { SIZE_SCHEMA } from '../../config/units.ts';
import { DETECTOR_IDS, type DetectorId } from '../../screening/index.ts';

/** `query`, `body`, `path`, or `headers:<name>` (an RFC 9110 §5.1 field name). */
export const PLACE_PATTERN = "^(query|body|path|headers:[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64})$";

export const screenSchema = {
  type: 'object',
  additionalProperties: false,
  description:
    'Injection screening of requests (OWASP WSTG 4.7): SQL, NoSQL operator, OS command, path traversal, template ' +
    'injection, XSS and SSRF-prone values in the query, body, path and chosen headers, including their ' +
    'percent-decoded forms. Findings are logged as injection.suspected events with the detector and the location ' +
    '(never the value).',
  properties: {
    mode: {
      type: 'string',
      enum: ['block', 'log'],
      default: 'block',
      description: 'block: answer 400 (generic problem) and forward nothing; log: record the event and let the request through.',
    },
    detectors: {
      type: 'array',
      uniqueItems: true,
      minItems: 1,
      items: { type: 'string', enum: [...DETECTOR_IDS] },
      default: [...DETECTOR_IDS],
      description: `Detectors to run (default all): ${DETECTOR_IDS.join(', ')}.`,
    },
    in: {
      type: 'array',
      uniqueItems: true,
      minItems: 1,
      maxItems: 32,
      items: { type: 'string', pattern: PLACE_PATTERN },
      default: ['query', 'body', 'path'],
      description:
        'Places screened: query (every parameter name and value), body (JSON, form or text), path (each segment), ' +
        'headers:<name> (one header, e.g. headers:x-search).',
    },
    allow: {
      type: 'array',
      uniqueItems: true,
      maxItems: 256,
      items: { type: 'string', minLength: 1, maxLength: 512 },
      default: [],
      description:
        'Locations exempt from screening, with everything below them: JSON Pointers rooted at the place ' +
        '(/body/comment, /body/items/*/note, /query/q, /headers/x-search, /path/slug).',
    },
    maxBodySize: { ...SIZE_SCHEMA, default: '1mb', description: 'Largest body read for screening (413 beyond).' },
  },
} as const;

export interface ScreenConfig {
  readonly mode: 'block' | 'log';
  readonly detectors: readonly DetectorId[];
  readonly in: readonly string[];
  readonly allow: readonly string[];
  readonly maxBodySize: string | number;
}
