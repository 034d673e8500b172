/**
 * What an alert says, in the two formats a destination can ask for. Built once per alert (never per event), from a
 * group of events (dispatcher.ts).
 *
 * Privacy (OWASP Logging Cheat Sheet "Data to exclude"): alerts leave the gateway, so they get the same treatment as
 * what the audit chain and the events store keep, from the same modules, with the same key, so an alert's values
 * match the stored ones and can be looked up there:
 * - the client address goes through `Privacy.address` (`privacy.addresses`: keyed hash, /24-/48 truncation or kept);
 * - details go through `redactDetails` (secret-named members masked, usernames and e-mail addresses pseudonymised,
 *   credential-looking strings masked, sizes bounded), then address-named members through `Privacy.address` too;
 * - the principal goes through `cleanText` (an external subject that is an e-mail address is pseudonymised);
 * - details larger than `MAX_DETAILS_BYTES` once serialised are replaced by a note, so no event makes alerts large.
 */
import { cleanText, redactDetails } from '../audit/redact.ts';
import type { Privacy } from '../audit/privacy.ts';
import type { Severity } from '../observe/events.ts';

/** Detail members holding a client address (any depth). */
const ADDRESS_MEMBER = /^(clientaddress|address|ip|ipaddress|peer|peeraddress|remoteaddress|forwardedfor)$/;
export const MAX_DETAILS_BYTES = 4096;

function maskAddresses(value: unknown, privacy: Privacy, depth: number): unknown {
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => maskAddresses(item, privacy, depth + 1));
  const out = Object.create(null) as Record<string, unknown>;
  for (const [name, item] of Object.entries(value)) {
    out[name] =
      typeof item === 'string' && ADDRESS_MEMBER.test(name.toLowerCase().replace(/[^a-z]/g, ''))
        ? privacy.address(item)
        : maskAddresses(item, privacy, depth + 1);
  }
  return out;
}

/** Event details as an alert may carry them (see the module comment). */
export function alertDetails(details: Readonly<Record<string, unknown>>, privacy: Privacy): Record<string, unknown> {
  const clean = maskAddresses(redactDetails(details, privacy), privacy, 0) as Record<string, unknown>;
  const bytes = Buffer.byteLength(JSON.stringify(clean));
  return bytes <= MAX_DETAILS_BYTES ? clean : { _omitted: `details of ${bytes} bytes exceed the alert limit of ${MAX_DETAILS_BYTES}` };
}

/** One alert: a group of events with the same type, route and principal/address (or an overflow group). */
export interface AlertContent {
  readonly id: string;
  readonly type: string;
  readonly severity: Severity;
  readonly routeId: string | undefined;
  readonly principal: string | undefined;
  readonly clientAddress: string | undefined;
  readonly count: number;
  readonly firstSeen: number;
  readonly lastSeen: number;
  readonly sampleRequestIds: readonly string[];
  /** Sum of `details.suppressed` of grouped anomaly events: repeats the detectors folded into them. */
  readonly suppressed: number;
  /** The latest event's details (not yet sanitised). */
  readonly details: Readonly<Record<string, unknown>> | undefined;
  /** True when the group folded many principals/addresses because the group table was full. */
  readonly overflow: boolean;
}

/** The `json` format: the Rampart alert document (version 1). */
export function alertJson(alert: AlertContent, privacy: Privacy): Record<string, unknown> {
  const clientAddress = alert.clientAddress === undefined ? null : privacy.address(alert.clientAddress);
  return {
    version: 1,
    source: 'rampart',
    id: alert.id,
    type: alert.type,
    severity: alert.severity,
    ...(alert.routeId !== undefined ? { routeId: alert.routeId } : {}),
    ...(alert.principal !== undefined ? { principal: cleanText(alert.principal, privacy) } : {}),
    ...(clientAddress !== null ? { clientAddress } : {}),
    count: alert.count,
    ...(alert.suppressed > 0 ? { suppressed: alert.suppressed } : {}),
    firstSeen: new Date(alert.firstSeen).toISOString(),
    lastSeen: new Date(alert.lastSeen).toISOString(),
    sampleRequestIds: alert.sampleRequestIds,
    ...(alert.overflow ? { overflow: true } : {}),
    ...(alert.details !== undefined ? { details: alertDetails(alert.details, privacy) } : {}),
  };
}

const MAX_FIELD = 256;
/** Slack's limit for a section's text is 3,000 characters; the details block's fences take 6. */
const MAX_DETAILS_TEXT = 2990;

function cut(value: string): string {
  return value.length > MAX_FIELD ? `${value.slice(0, MAX_FIELD - 1)}…` : value;
}

/**
 * What Slack requires (https://api.slack.com/reference/surfaces/formatting#escaping): `&`, `<` and `>` as entities, so
 * that no `<!channel>`, `<@U…>` or `<https://…|text>` link comes from event data. It leaves `*bold*`, `_italic_`,
 * `~strike~` and code markup: untrusted text also goes through `neutraliseBackticks` and sits in a code span or
 * block (`slackCode`, the details block), where Slack (and the Markdown of compatible receivers) formats nothing.
 */
function slackEscape(value: string): string {
  return value.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/**
 * Every backtick of untrusted text becomes U+02CB (MODIFIER LETTER GRAVE ACCENT, which looks alike): then the text
 * can neither close the ``` block around the details (the rest would render as formatted text: bold, links) nor an
 * inline code span. A look-alike rather than a zero-width space between backticks, because a single backtick
 * already ends an inline code span (separating runs is not enough there), receivers differ in how they treat
 * invisible characters, and the reader still sees that a backtick was there.
 */
function neutraliseBackticks(value: string): string {
  return value.replaceAll('`', '\u02cb');
}

// Line breaks end an inline code span in mrkdwn: a value is shown on one line.
const LINE_BREAKS = /[\r\n\u0085\u2028\u2029]+/g;

/** An untrusted value (principal, route, address, request id) as an inline code span: shown as written, never formatted. */
function slackCode(value: string): string {
  return `\`${slackEscape(neutraliseBackticks(value.replace(LINE_BREAKS, ' ')))}\``;
}

const SEVERITY_MARK: Readonly<Record<Severity, string>> = {
  info: 'INFO',
  low: 'LOW',
  medium: 'MEDIUM',
  high: 'HIGH',
  critical: 'CRITICAL',
};

/**
 * The `slack` format: Slack incoming-webhook JSON (`text` as the notification fallback, Block Kit `blocks` for the
 * message). Compatible receivers (Mattermost, Rocket.Chat, Discord's /slack endpoint) read the same shape.
 */
export function alertSlack(alert: AlertContent, privacy: Privacy): Record<string, unknown> {
  const json = alertJson(alert, privacy);
  const principal = json.principal as string | undefined;
  const address = json.clientAddress as string | undefined;
  const who = [
    principal !== undefined ? `principal ${slackCode(cut(principal))}` : undefined,
    address !== undefined ? `address ${slackCode(address)}` : undefined,
    alert.routeId !== undefined ? `route ${slackCode(cut(alert.routeId))}` : undefined,
  ]
    .filter((x): x is string => x !== undefined)
    .join(', ');
  const summary =
    `[${SEVERITY_MARK[alert.severity]}] ${slackEscape(alert.type)}: ${alert.count} event${alert.count === 1 ? '' : 's'}` +
    `${alert.suppressed > 0 ? ` (+${alert.suppressed} folded)` : ''}${who !== '' ? ` (${who})` : ''}`;
  const fields: Array<{ type: 'mrkdwn'; text: string }> = [
    { type: 'mrkdwn', text: `*Severity*\n${alert.severity}` },
    { type: 'mrkdwn', text: `*Events*\n${alert.count}` },
    { type: 'mrkdwn', text: `*First seen*\n${json.firstSeen as string}` },
    { type: 'mrkdwn', text: `*Last seen*\n${json.lastSeen as string}` },
  ];
  if (alert.routeId !== undefined) fields.push({ type: 'mrkdwn', text: `*Route*\n${slackCode(cut(alert.routeId))}` });
  if (principal !== undefined) fields.push({ type: 'mrkdwn', text: `*Principal*\n${slackCode(cut(principal))}` });
  if (address !== undefined) fields.push({ type: 'mrkdwn', text: `*Client address*\n${slackCode(address)}` });
  const blocks: unknown[] = [
    { type: 'header', text: { type: 'plain_text', text: cut(`${SEVERITY_MARK[alert.severity]}: ${alert.type}`).slice(0, 150) } },
    // Slack allows at most 10 fields per section.
    { type: 'section', fields: fields.slice(0, 10) },
  ];
  if (json.details !== undefined) {
    // No backtick in the block: the details cannot end it early (neutraliseBackticks). Cut after escaping (an
    // entity is 4 or 5 characters: `<<<…` must not take the section past Slack's 3,000), never inside an entity.
    const text = slackEscape(neutraliseBackticks(JSON.stringify(json.details, null, 1)));
    const body = text.length > MAX_DETAILS_TEXT ? `${text.slice(0, MAX_DETAILS_TEXT - 1).replace(/&[a-z]*$/, '')}…` : text;
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `\`\`\`${body}\`\`\`` } });
  }
  blocks.push({
    type: 'context',
    elements: [{ type: 'mrkdwn', text: `alert ${alert.id}; request ids: ${alert.sampleRequestIds.map((id) => slackCode(cut(id))).join(', ') || '-'}` }],
  });
  // The summary's untrusted parts (principal, address, route) are code spans already (slackCode).
  return { text: summary, blocks };
}
