/**
 * `rampart privacy report`: a record of processing (GDPR art. 30) drafted from what the gateway config and the API
 * contracts say, in JSON and Markdown. It is a draft the controller completes, not the record itself: Rampart knows
 * which routes carry which personal data, where it stores personal data and for how long, and which security
 * measures are on; it cannot know the controller, the purposes, the legal bases or transfers abroad, which are
 * listed under `toComplete`.
 *
 * Sources:
 * - personal data per route: `x-pii` annotations (xpii.ts) in the OpenAPI documents the routes name (`apis[].openapi`
 *   and version overrides, `docs.openapi`, the `contract` policy's `openapi`), loaded read-only with
 *   src/openapi/load.ts; the `pii` policy's detectors configured on the route; and, when an events store is given,
 *   what the `pii` policy actually found (`pii.detected` events: detector, JSON Pointer, count, last seen; the
 *   values are never stored);
 * - where personal data is stored and for how long: `storage:`, `counters:`, `audit:`, `events:`, the access log,
 *   the gateway's memory, with `privacy.retention` (and `events.retention`);
 * - security of processing (art. 32): TLS on listeners, master key, pseudonymisation of addresses and identifiers,
 *   keyed audit chain, secrets at rest.
 */
import { dirname, resolve } from 'node:path';
import type { GatewayConfig, RouteConfig } from '../../config/load.ts';
import { resolveAuditSettings } from '../../audit/configured.ts';
import { retentionOf, type RetentionSettings } from '../../audit/retention.ts';
import { describeStoreUrl } from '../../audit/store.ts';
import type { EventsStore } from '../../events-store/types.ts';
import { loadOpenApi } from '../../openapi/load.ts';
import { piiOfDocument, routeReaches, type OperationPii } from './xpii.ts';
import { formatStoredTime } from '../../audit/stored-time.ts';

export const REPORT_FORMAT = 'rampart-processing-record/1';

export interface RoutePersonalData {
  readonly document: string;
  readonly operation: string;
  readonly location: string;
  readonly field: string;
  readonly categories: readonly string[];
}

export interface ObservedFinding {
  readonly detector: string;
  readonly location: string;
  readonly count: number;
  readonly lastSeen: string;
}

export interface RouteProcessing {
  readonly id: string;
  readonly path: string;
  readonly methods: readonly string[] | null;
  /** Recipients: the upstream origins the route forwards to (or the gateway service). */
  readonly recipients: readonly string[];
  readonly public: boolean;
  readonly authentication: readonly string[];
  readonly personalData: readonly RoutePersonalData[];
  readonly piiDetection: { readonly mode: string; readonly detectors: readonly string[] } | null;
  readonly observed: readonly ObservedFinding[];
}

export interface StoreProcessing {
  readonly store: string;
  readonly where: string;
  readonly holds: readonly string[];
  readonly retention: string;
  readonly retentionMs: number | null;
  readonly enforcedBy: 'rampart' | 'log shipper' | 'gateway restart' | 'expiry' | 'none';
}

export interface ProcessingRecord {
  readonly format: typeof REPORT_FORMAT;
  readonly generatedAt: string;
  readonly config: string;
  readonly mode: string;
  readonly toComplete: readonly string[];
  readonly dataSubjects: ReadonlyArray<{ readonly category: string; readonly identifiedBy: string }>;
  readonly routes: readonly RouteProcessing[];
  readonly stores: readonly StoreProcessing[];
  readonly security: ReadonlyArray<{ readonly measure: string; readonly status: 'on' | 'off' | 'partial'; readonly detail: string }>;
  readonly documents: ReadonlyArray<{ readonly file: string; readonly loaded: boolean; readonly problems: readonly string[] }>;
  readonly findings: readonly string[];
}

const TO_COMPLETE = [
  'name and contact details of the controller (and representative, data protection officer) — art. 30(1)(a)',
  'purposes of the processing per API — art. 30(1)(b)',
  'legal basis per purpose (art. 6) — not part of art. 30, but needed to justify each purpose',
  'categories of recipients beyond the upstream services listed here — art. 30(1)(d)',
  'transfers to third countries and their safeguards — art. 30(1)(e)',
  'retention of the data the upstream services themselves keep — art. 30(1)(f) covers them too',
];

const DAY = 86_400_000;

function durationText(ms: number): string {
  if (ms % DAY === 0) return `${ms / DAY} days`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} hours`;
  if (ms % 60_000 === 0) return `${ms / 60_000} minutes`;
  return `${ms} ms`;
}

function originOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '(invalid URL)';
  }
}

function authenticationOf(route: RouteConfig): string[] {
  return route.policies.filter((p) => p.definition.authenticates).map((p) => (p.issuer ? `${p.definition.name} (${p.issuer})` : p.definition.name));
}

/** The OpenAPI documents a route names itself (its API's or version's, its contract policy's), resolved. */
function ownDocumentsOf(route: RouteConfig, configDir: string): string[] {
  const files = new Set<string>();
  if (route.api?.openapi !== undefined) files.add(resolve(configDir, route.api.openapi));
  const contract = route.policies.find((p) => p.definition.name === 'contract')?.config as { openapi?: unknown } | undefined;
  if (typeof contract?.openapi === 'string') files.add(resolve(configDir, contract.openapi));
  return [...files];
}

/**
 * The documents whose operations a route may carry: its own; a route that names none is matched against the
 * documents served by `rampart:docs` routes (`docs.openapi`), which describe the API of the hand-written routes.
 * A docs route itself carries the document, not the data it describes.
 */
function documentsOf(route: RouteConfig, configDir: string, served: readonly string[]): string[] {
  if (route.docs !== undefined) return [];
  const own = ownDocumentsOf(route, configDir);
  return own.length > 0 ? own : [...served];
}

function piiPolicyOf(route: RouteConfig): RouteProcessing['piiDetection'] {
  const policy = route.policies.find((p) => p.definition.name === 'pii');
  if (policy === undefined) return null;
  const config = policy.config as { mode?: string; detectors?: readonly string[] };
  return { mode: config.mode ?? 'mask', detectors: [...(config.detectors ?? [])] };
}

/** `pii.detected` events grouped by route, detector and location. */
function observedFindings(events: EventsStore | undefined): Map<string, ObservedFinding[]> {
  const byRoute = new Map<string, Map<string, { detector: string; location: string; count: number; last: number }>>();
  if (events === undefined) return new Map();
  for (const row of events.query({ types: ['pii.detected'], limit: 100_000 })) {
    const findings = row.details['findings'];
    if (!Array.isArray(findings)) continue;
    const route = row.route ?? '(none)';
    const groups = byRoute.get(route) ?? new Map();
    byRoute.set(route, groups);
    for (const finding of findings as Array<Record<string, unknown>>) {
      const detector = typeof finding['detector'] === 'string' ? finding['detector'] : 'unknown';
      const location = typeof finding['location'] === 'string' ? finding['location'] || '(body)' : '(unknown)';
      const key = `${detector}\0${location}`;
      const group = groups.get(key) ?? { detector, location, count: 0, last: 0 };
      group.count++;
      group.last = Math.max(group.last, row.time);
      groups.set(key, group);
    }
  }
  return new Map(
    [...byRoute].map(([route, groups]) => [
      route,
      [...groups.values()].map((g) => ({ detector: g.detector, location: g.location, count: g.count, lastSeen: formatStoredTime(g.last) })),
    ]),
  );
}

/**
 * Where Rampart keeps personal data and for how long, per store (synchronous, config only): the record of
 * processing's store table, and what posture needs for "stores without retention" (item 16).
 */
export function retentionByStore(config: GatewayConfig): StoreProcessing[] {
  return storesOf(config, retentionOf(config.document['privacy'] as Record<string, unknown> | undefined, config.document, []));
}

/** A store URL for people: without credentials, and `memory:` said as what it is. */
function where(url: string): string {
  return url === 'memory:' || url === 'sqlite::memory:' ? 'gateway process memory (memory:)' : describeStoreUrl(url);
}

function storesOf(config: GatewayConfig, retention: RetentionSettings): StoreProcessing[] {
  const document = config.document;
  const settings = resolveAuditSettings(document);
  const addresses = settings.addresses;
  const addressForm = addresses === 'keep' ? 'client addresses in clear' : addresses === 'truncate' ? 'client addresses truncated (/24, /48)' : 'client addresses as keyed hashes';
  const stores: StoreProcessing[] = [];
  const kept = (ms: number | undefined, otherwise: string) => (ms === undefined ? otherwise : durationText(ms));
  stores.push({
    store: 'identities',
    where: where(config.storage),
    holds: [
      'users: username, roles, tenant, password hash (argon2id), TOTP seed (sealed), recovery codes (hashed), WebAuthn public keys',
      'consumers and API keys: name, roles, key prefix, scopes, dates (keys hashed)',
      'OAuth clients: id, name, roles, scopes (secret hashed)',
    ],
    retention: 'until the record is deleted (rampart users|consumers|clients remove, rampart privacy erase)',
    retentionMs: null,
    enforcedBy: 'none',
  });
  stores.push({
    store: 'sessions',
    where: where(config.storage),
    holds: ['browser sessions: user id, times, authentication methods (id hashed)', 'refresh-token families: subject, client, scopes, times (tokens hashed)'],
    retention: `rows of ended sessions and expired families are deleted by rampart privacy purge (the gateway does not sweep them itself yet)${retention.sessionsMs === undefined ? '' : `; anything older than ${durationText(retention.sessionsMs)} too`}`,
    retentionMs: retention.sessionsMs ?? null,
    enforcedBy: retention.sessionsMs === undefined ? 'expiry' : 'rampart',
  });
  const counters = (document['counters'] as { store?: string } | undefined)?.store ?? 'memory';
  stores.push({
    store: 'counters',
    where: counters === 'memory' ? 'gateway process memory' : describeStoreUrl(counters),
    holds: ['brute-force and rate-limit counters keyed by normalised username, client address or principal'],
    retention: 'each counter expires with its window or lockout',
    retentionMs: null,
    enforcedBy: 'expiry',
  });
  if (settings.audit !== undefined) {
    stores.push({
      store: 'audit',
      where: where(settings.audit.store),
      holds: [
        'actor (user id, consumer name, client id or external subject), request id, route, outcome',
        addressForm,
        'details, redacted: secrets masked, usernames and e-mail addresses as keyed pseudonyms',
      ],
      retention: kept(retention.auditMs, 'none: kept until erased or pruned (set privacy.retention.audit)'),
      retentionMs: retention.auditMs ?? null,
      enforcedBy: retention.auditMs === undefined ? 'none' : 'rampart',
    });
  }
  if (settings.events !== undefined) {
    stores.push({
      store: 'events',
      where: where(settings.events.store),
      holds: ['security events: type, route, request id, details (redacted as in the audit log)', addressForm],
      retention: `${durationText(settings.events.retentionMs)}, and at most ${settings.events.maxRows} rows`,
      retentionMs: settings.events.retentionMs,
      enforcedBy: 'rampart',
    });
  }
  if (config.accessLog.enabled) {
    stores.push({
      store: 'access log',
      where: config.accessLog.destination === 'stdout' ? 'standard output (collected by the log shipper)' : config.accessLog.destination,
      holds: ['per request: time, client address, method, canonical path (may contain ids), route, status, sizes, request id'],
      retention: kept(retention.accessLogsMs, 'not stated (set privacy.retention.accessLogs and configure the log shipper accordingly)'),
      retentionMs: retention.accessLogsMs ?? null,
      enforcedBy: 'log shipper',
    });
  }
  stores.push({
    store: 'gateway memory',
    where: 'each gateway process',
    holds: ['deprecation usage per consumer (calls, first and last seen)', 'object ownership from creating requests', 'verified-token caches'],
    retention: `until the process restarts${retention.deprecationUsageMs === undefined ? '' : `; deprecation usage not seen for ${durationText(retention.deprecationUsageMs)} is forgotten`}`,
    retentionMs: retention.deprecationUsageMs ?? null,
    enforcedBy: 'gateway restart',
  });
  return stores;
}

function securityOf(config: GatewayConfig): ProcessingRecord['security'] {
  const settings = resolveAuditSettings(config.document);
  const tls = config.listeners.filter((l) => l.tls !== undefined).length;
  const plainServing = config.listeners.filter((l) => l.tls === undefined && l.http === 'serve').length;
  const chainKey = settings.audit?.chainKey;
  return [
    {
      measure: 'encryption in transit (TLS 1.2+, AEAD ciphers)',
      status: plainServing === 0 && tls > 0 ? 'on' : tls > 0 ? 'partial' : 'off',
      detail: `${tls} of ${config.listeners.length} listeners with TLS; ${plainServing} serving plain HTTP`,
    },
    {
      measure: 'secrets at rest (AES-256-GCM sealed TOTP seeds and signing keys; hashed passwords, keys, tokens)',
      status: config.masterKey !== undefined ? 'on' : 'partial',
      detail: config.masterKey !== undefined ? 'keyring.masterKey configured' : 'no keyring.masterKey: a development key (a file beside the database, or per process for memory:)',
    },
    {
      measure: 'pseudonymisation of client addresses in audit and events',
      status: settings.addresses === 'keep' ? 'off' : 'on',
      detail: `privacy.addresses: ${settings.addresses}`,
    },
    { measure: 'pseudonymisation of usernames and e-mail addresses in audit and events', status: 'on', detail: 'keyed hashes (p:…)' },
    {
      measure: 'tamper-evident audit log',
      status: settings.audit === undefined ? 'off' : chainKey === false ? 'partial' : 'on',
      detail: settings.audit === undefined ? 'no audit: section' : chainKey === false ? 'hash chain without a key' : 'keyed hash chain (HMAC-SHA-256), erasable format 2',
    },
  ];
}

export interface ReportOptions {
  /** The config file (relative OpenAPI paths are resolved against its directory). */
  readonly configFile: string;
  /** For observed PII findings (`pii.detected`). */
  readonly events?: EventsStore;
  readonly now?: number;
}

export async function buildProcessingRecord(config: GatewayConfig, options: ReportOptions): Promise<ProcessingRecord> {
  const configDir = dirname(resolve(options.configFile));
  const retention = retentionOf(config.document['privacy'] as Record<string, unknown> | undefined, config.document, []);
  const observed = observedFindings(options.events);
  const loaded = new Map<string, { operations: OperationPii[]; problems: string[]; loaded: boolean }>();
  const served = [...new Set(config.routes.flatMap((r) => (r.docs?.openapi === undefined ? [] : [resolve(configDir, r.docs.openapi)])))];
  const files = new Set([...served, ...config.routes.flatMap((r) => ownDocumentsOf(r, configDir))]);
  for (const file of files) {
    const result = await loadOpenApi(file);
    if (!result.ok) {
      loaded.set(file, { operations: [], problems: result.errors.map((e) => e.text), loaded: false });
    } else {
      const { operations, invalid } = piiOfDocument(result.api.model);
      loaded.set(file, { operations, problems: invalid.map((pointer) => `${file}#${pointer}: x-pii is not true, a category, a list of categories or { category }`), loaded: true });
    }
  }

  const findings: string[] = [];
  const routes: RouteProcessing[] = config.routes.map((route) => {
    const personalData: RoutePersonalData[] = [];
    for (const file of documentsOf(route, configDir, served)) {
      for (const op of loaded.get(file)?.operations ?? []) {
        if (route.methods !== undefined && !route.methods.includes(op.method)) continue;
        if (!routeReaches(route.path, route.api?.stripPrefix, op.path)) continue;
        for (const field of op.fields) personalData.push({ document: file, operation: `${op.method} ${op.path}`, location: field.location, field: field.field, categories: field.categories });
      }
    }
    const piiDetection = piiPolicyOf(route);
    const responsePii = personalData.some((p) => p.location.startsWith('response'));
    if (responsePii && piiDetection === null) {
      findings.push(`route ${route.id}: responses carry annotated personal data and no pii policy checks them`);
    }
    return {
      id: route.id,
      path: route.path,
      methods: route.methods === undefined ? null : [...route.methods],
      recipients: route.service !== undefined ? [`rampart:${route.service}`] : [...new Set(route.upstream.targets.map((t) => originOf(t.url)))],
      public: route.public,
      authentication: authenticationOf(route),
      personalData,
      piiDetection,
      observed: observed.get(route.id) ?? [],
    };
  });

  const stores = storesOf(config, retention);
  for (const store of stores) {
    if (store.enforcedBy === 'none' && store.store !== 'identities') findings.push(`store ${store.store} (${store.where}) has no retention: ${store.retention}`);
  }
  if (retention.accessLogsMs === undefined && config.accessLog.enabled) findings.push('access log: no privacy.retention.accessLogs; the log shipper keeps the files as long as it is configured to');
  for (const [file, doc] of loaded) for (const problem of doc.problems) findings.push(doc.loaded ? problem : `${file}: not loaded: ${problem}`);

  const dataSubjects: Array<{ category: string; identifiedBy: string }> = [];
  if (config.identity !== undefined) {
    dataSubjects.push({ category: 'users of the built-in identity provider', identifiedBy: 'user id (usr_…) and username' });
    dataSubjects.push({ category: 'machine clients (OAuth client credentials)', identifiedBy: 'client id' });
  }
  if (config.routes.some((r) => r.policies.some((p) => p.definition.name === 'api-key'))) {
    dataSubjects.push({ category: 'API consumers (people or organisations behind an API key)', identifiedBy: 'consumer name and key prefix' });
  }
  const issuers = Object.keys((config.document['issuers'] as Record<string, unknown> | undefined) ?? {});
  if (issuers.length > 0) dataSubjects.push({ category: `users of external token issuers (${issuers.join(', ')})`, identifiedBy: 'the token subject (sub)' });
  dataSubjects.push({ category: 'every client of the gateway', identifiedBy: 'client address (access log; audit and events per privacy.addresses)' });

  return {
    format: REPORT_FORMAT,
    generatedAt: new Date(options.now ?? Date.now()).toISOString(),
    config: resolve(options.configFile),
    mode: config.mode,
    toComplete: TO_COMPLETE,
    dataSubjects,
    routes,
    stores,
    security: securityOf(config),
    documents: [...loaded].map(([file, doc]) => ({ file, loaded: doc.loaded, problems: doc.problems })),
    findings,
  };
}

// Control characters (C0, DEL, C1), format characters (bidi embeddings, overrides and isolates U+202A-U+202E and
// U+2066-U+2069, zero-width and tag characters) and U+2028/U+2029: invisible or reordering in a rendered report.
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;
// CommonMark backslash-escapable punctuation that starts an inline construct anywhere in a line: `\` (an escape of
// its own), code spans, emphasis (`*`, `_`), GFM strikethrough (`~`), links and images (`[`, `]`, `(`, `)`, `!`),
// table cells (`|`), GitHub math (`$`) and attribute/extension syntax of kramdown and Pandoc (`{`, `}`). `#`, `+`,
// `-` and `.` only start a block at the start of a line: see LEADING_BLOCK_MARKER.
const MARKDOWN_PUNCTUATION = /[\\`*_{}[\]()!~|$]/g;
// A heading, list item or ordered list item marker at the start of the text (a finding is a list item's text).
const LEADING_BLOCK_MARKER = /^(\s*)(?:([#+-])|(\d+)\.)/;

/**
 * Text for a Markdown table cell, heading or list item, from names of the config and the OpenAPI documents (`x-pii`
 * property names, operationIds, paths): one line (line breaks become spaces); invisible characters shown as
 * `\u{1b}`; Markdown punctuation backslash-escaped, so that the text renders as written and never as a link, an
 * image (a tracking pixel), emphasis or a further cell; `&`, `<` and `>` as HTML entities (no raw HTML, no
 * autolinks).
 */
export function markdownCell(text: string): string {
  return text
    .replace(/[\r\n]+/g, ' ')
    .replace(INVISIBLE, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`)
    .replace(MARKDOWN_PUNCTUATION, (c) => `\\${c}`)
    .replace(LEADING_BLOCK_MARKER, (_all, space: string, marker: string | undefined, digits: string | undefined) => `${space}${marker !== undefined ? `\\${marker}` : `${digits}\\.`}`)
    .replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));
}

export function formatProcessingRecord(record: ProcessingRecord): string {
  const lines: string[] = [];
  const table = (head: string[], rows: string[][]) => {
    lines.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`);
    for (const row of rows) lines.push(`| ${row.map(markdownCell).join(' | ')} |`);
    lines.push('');
  };
  lines.push('# Record of processing (draft)', '');
  lines.push(`Generated ${record.generatedAt} by \`rampart privacy report\` from ${markdownCell(record.config)} (mode ${record.mode}).`);
  lines.push('A draft for GDPR art. 30: it states what the gateway configuration and the API contracts show. It is not legal advice.', '');
  lines.push('## To be completed by the controller', '');
  for (const item of record.toComplete) lines.push(`- [ ] ${item}`);
  lines.push('', '## Categories of data subjects', '');
  table(['category', 'identified by'], record.dataSubjects.map((s) => [s.category, s.identifiedBy]));
  lines.push('## Personal data per route', '');
  table(
    ['route', 'path', 'recipients', 'authentication', 'pii detection'],
    record.routes.map((r) => [
      r.id,
      `${r.methods?.join(',') ?? '*'} ${r.path}`,
      r.recipients.join(', '),
      r.public ? 'public' : r.authentication.join(', ') || '-',
      r.piiDetection === null ? '-' : `${r.piiDetection.mode}: ${r.piiDetection.detectors.join(', ')}`,
    ]),
  );
  for (const route of record.routes) {
    if (route.personalData.length === 0 && route.observed.length === 0) continue;
    lines.push(`### ${markdownCell(route.id)}`, '');
    if (route.personalData.length > 0) {
      table(['operation', 'where', 'field', 'categories'], route.personalData.map((p) => [p.operation, p.location, p.field, p.categories.join(', ')]));
    }
    if (route.observed.length > 0) {
      lines.push('Found by the pii policy in responses:', '');
      table(['detector', 'location', 'count', 'last seen'], route.observed.map((o) => [o.detector, o.location, String(o.count), o.lastSeen]));
    }
  }
  lines.push('## Where Rampart stores personal data, and for how long', '');
  table(['store', 'where', 'holds', 'retention', 'enforced by'], record.stores.map((s) => [s.store, s.where, s.holds.join('; '), s.retention, s.enforcedBy]));
  lines.push('## Security of processing (art. 32)', '');
  table(['measure', 'status', 'detail'], record.security.map((s) => [s.measure, s.status, s.detail]));
  if (record.findings.length > 0) {
    lines.push('## Findings', '');
    for (const finding of record.findings) lines.push(`- ${markdownCell(finding)}`);
    lines.push('');
  }
  return lines.join('\n');
}
