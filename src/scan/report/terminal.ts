/**
 * The terminal summary: one block per checklist item (in checklist order) with its findings, most severe first. High
 * and medium findings are printed with their first locations; low and info findings are counted per rule unless
 * `verbose` (a real spec has hundreds, and the JSON/SARIF/HTML reports hold every one). Colours only on a terminal
 * that allows them (NO_COLOR, https://no-color.org).
 */
import { CHECKLIST, OWASP_API_TOP10_2023 } from '../../checklist/items.ts';
import type { Finding, ScanReport, Severity } from '../model.ts';
import { byItem, countBySeverity, formatLocation, maskSecrets } from './common.ts';

export interface TerminalOptions {
  readonly color?: boolean;
  readonly verbose?: boolean;
  /** Locations printed per finding (the rest are counted). */
  readonly locations?: number;
}

const CODES: Record<Severity | 'bold' | 'dim', [number, number]> = {
  high: [31, 39],
  medium: [33, 39],
  low: [36, 39],
  info: [90, 39],
  bold: [1, 22],
  dim: [2, 22],
};

export function renderTerminal(report: ScanReport, options: TerminalOptions = {}): string {
  const paint = (style: keyof typeof CODES, text: string) => (options.color ? `\u001b[${CODES[style][0]}m${text}\u001b[${CODES[style][1]}m` : text);
  const shown = options.locations ?? 3;
  const lines: string[] = [];
  const counts = countBySeverity(report.findings);
  const ops = report.operations?.length ?? 0;
  const what = [
    report.specs.length > 0 ? `${report.specs.length} spec${report.specs.length === 1 ? '' : 's'}` : undefined,
    report.target ? `target ${report.target}` : undefined,
    ops > 0 ? `${ops} operation${ops === 1 ? '' : 's'}` : undefined,
    `${report.rules.length} checks`,
  ].filter(Boolean);
  lines.push(paint('bold', `rampart scan: ${what.join(', ')}${report.partial ? ' (PARTIAL: the scan stopped early)' : ''}`));
  lines.push(
    `${report.findings.length} finding${report.findings.length === 1 ? '' : 's'}: ` +
      (['high', 'medium', 'low', 'info'] as const).map((s) => paint(s, `${counts[s]} ${s}`)).join(', ') +
      (report.suppressed.length > 0 ? `; ${report.suppressed.length} accepted by the baseline` : ''),
  );
  const grouped = byItem(report.findings);
  const checked = new Set(report.rules.map((r) => r.item));
  const clean: string[] = [];
  const unchecked: string[] = [];
  for (const item of CHECKLIST) {
    const findings = grouped.get(item.id)!;
    if (findings.length === 0) {
      (checked.has(item.id) ? clean : unchecked).push(`${item.id}`);
      continue;
    }
    const c = countBySeverity(findings);
    const summary = (['high', 'medium', 'low', 'info'] as const).filter((s) => c[s] > 0).map((s) => paint(s, `${c[s]} ${s}`)).join(', ');
    lines.push('');
    lines.push(`${paint('bold', `${item.id}. ${item.title}`)} (${item.owasp.join(', ')}): ${summary}`);
    const detailed = options.verbose ? findings : findings.filter((f) => f.rule.severity === 'high' || f.rule.severity === 'medium');
    for (const finding of detailed) lines.push(...renderFinding(finding, shown, paint));
    if (!options.verbose) {
      const rest = new Map<string, { severity: Severity; count: number; title: string }>();
      for (const f of findings) {
        if (f.rule.severity === 'high' || f.rule.severity === 'medium') continue;
        const entry = rest.get(f.rule.id) ?? { severity: f.rule.severity, count: 0, title: f.rule.title };
        entry.count++;
        rest.set(f.rule.id, entry);
      }
      for (const [id, entry] of rest) {
        lines.push(`  ${paint(entry.severity, entry.severity.toUpperCase().padEnd(6))} ${id}: ${entry.count} finding${entry.count === 1 ? '' : 's'} (${entry.title}; --verbose or the JSON/HTML report lists them)`);
      }
    }
  }
  if (clean.length > 0 || unchecked.length > 0) lines.push('');
  if (clean.length > 0) lines.push(paint('dim', `Checked, no findings: checklist items ${clean.join(', ')}.`));
  if (unchecked.length > 0) lines.push(paint('dim', `Not checked by this scan: checklist items ${unchecked.join(', ')}${report.target ? '' : ' (a dynamic scan with --target checks more)'}.`));
  if (report.suppressed.length > 0) {
    lines.push('');
    lines.push(`Accepted by the baseline (${report.suppressed.length}):`);
    // The reason is the baseline file's text (often from a pull request): escaped like the findings.
    for (const s of report.suppressed.slice(0, 20)) lines.push(`  ${s.finding.rule.id} ${s.finding.fingerprint} until ${s.expires}: ${printable(s.reason)}`);
    if (report.suppressed.length > 20) lines.push(`  … and ${report.suppressed.length - 20} more`);
  }
  // Notes quote error messages, baseline entries and what the spec or target said: escaped like the findings.
  for (const note of report.notes ?? []) lines.push(paint('dim', `note: ${printable(note)}`));
  return lines.join('\n') + '\n';
}

/**
 * What must not reach a terminal as it is: C0 and C1 control characters and DEL (`\p{Cc}`: ESC starts escape
 * sequences, BEL ends OSC ones, CR and BS rewrite the line, U+009B is a one-character CSI), format characters
 * (`\p{Cf}`: bidi embeddings, overrides and isolates U+202A-U+202E and U+2066-U+2069 that reorder what is shown,
 * zero-width characters, tag characters) and the line and paragraph separators U+2028 and U+2029.
 */
const UNSAFE_IN_TERMINAL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

/**
 * Text for one terminal line, with every unsafe character (above) shown as `\u001b` (`\u{e0041}` beyond the BMP)
 * instead of being sent to the terminal. Finding messages and locations quote what the target answered (JSON field
 * names, cookie names, paths) and what a spec says (schema and security scheme names): neither a hostile target nor
 * a document's author must get escape sequences (clear screen, retitle the window, hide text, print fake results)
 * run by the user's terminal. The CLI prints spec problems and config errors through it too.
 */
export function printable(text: string): string {
  return text.replace(UNSAFE_IN_TERMINAL, (c) => {
    const code = c.codePointAt(0)!;
    return code <= 0xffff ? `\\u${code.toString(16).padStart(4, '0')}` : `\\u{${code.toString(16)}}`;
  });
}

function renderFinding(finding: Finding, shown: number, paint: (style: keyof typeof CODES, text: string) => string): string[] {
  const out: string[] = [];
  const severity = finding.rule.severity;
  out.push(`  ${paint(severity, severity.toUpperCase().padEnd(6))} ${finding.rule.id}: ${printable(maskSecrets(finding.message))}`);
  for (const location of finding.locations.slice(0, shown)) out.push(`         ${printable(formatLocation(location))}`);
  if (finding.locations.length > shown) out.push(`         … ${finding.locations.length - shown} more location${finding.locations.length - shown === 1 ? '' : 's'}`);
  out.push(paint('dim', `         fix: ${finding.rule.fix} (${OWASP_API_TOP10_2023[finding.rule.owasp].title}, ${finding.rule.owasp})`));
  return out;
}
