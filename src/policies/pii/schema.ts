/**
 * Config schema of the `pii` policy (route key `pii:`): PII and secret detection on upstream response bodies
 * (issue 5 item 4, checklist item 16). Semantic checks (allow entries parse, phone regions exist) are in index.ts.
 */
import { PII_DETECTOR_IDS, type PiiDetectorId } from '../../privacy/pii/index.ts';

export const piiSchema = {
  type: 'object',
  additionalProperties: false,
  description:
    'Detects PII and secrets in upstream response bodies (email addresses, phone numbers, payment cards with the ' +
    'Luhn check, IBANs, US SSNs, JWTs, private keys, cloud access keys) and masks them, refuses the response, or ' +
    'logs a pii.detected event (detector and location only; the values are never logged).',
  properties: {
    mode: {
      type: 'string',
      enum: ['mask', 'block', 'log'],
      default: 'mask',
      description:
        'mask: replace the values in JSON bodies (cards keep their last 4 digits, emails their first character and ' +
        'domain, the rest becomes [redacted:<type>]; JSON types never change); block: answer a generic 502 instead ' +
        'of the response; log: record the event and pass the response on.',
    },
    detectors: {
      type: 'array',
      uniqueItems: true,
      minItems: 1,
      items: { type: 'string', enum: [...PII_DETECTOR_IDS] },
      default: [...PII_DETECTOR_IDS],
      description: `Detectors to run (default all): ${PII_DETECTOR_IDS.join(', ')}.`,
    },
    allow: {
      type: 'array',
      uniqueItems: true,
      maxItems: 256,
      items: { type: 'string', minLength: 1, maxLength: 512 },
      default: [],
      description:
        'Fields allowed to carry PII, with everything below them: JSON Pointers into the body (/email, ' +
        '/users/*/email) or dotted paths with [] for any array index (user.email, users[].email).',
    },
    phoneRegions: {
      type: 'array',
      uniqueItems: true,
      minItems: 1,
      maxItems: 32,
      items: { type: 'string', pattern: '^[A-Z]{2}$' },
      default: ['US'],
      description:
        'ISO 3166-1 alpha-2 regions whose national phone formats count (e.g. US for "(415) 555-2671", GB for ' +
        '"020 7946 0958"). International numbers written with + count for every region.',
    },
  },
} as const;

export interface PiiConfig {
  readonly mode: 'mask' | 'block' | 'log';
  readonly detectors: readonly PiiDetectorId[];
  readonly allow: readonly string[];
  readonly phoneRegions: readonly string[];
}
