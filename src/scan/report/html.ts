/**
 * The HTML report: one self-contained file (no external resource, no script at all) with a per-checklist-item chart
 * (inline SVG, drawn at render time) and every finding with its explanation, fix, locations and evidence (secrets
 * masked again here, whatever produced the evidence).
 *
 * Its Content-Security-Policy (a `<meta>`, so it travels with the file) allows nothing but the one inline stylesheet,
 * by hash: `default-src 'none'; style-src 'sha256-…'`. No script can run in it, so a hostile string in a spec or in
 * a response excerpt (everything is HTML-escaped anyway) cannot do anything when the report is opened.
 */
import { createHash } from 'node:crypto';
import { CHECKLIST, OWASP_API_TOP10_2023 } from '../../checklist/items.ts';
import type { Finding, ScanReport, Severity } from '../model.ts';
import { byItem, countBySeverity, formatLocation, maskSecrets, operationsOf, SEVERITIES } from './common.ts';

/** Locations listed per finding; the rest are counted (the JSON and SARIF reports list all). */
const MAX_LOCATIONS = 200;

const COLORS: Record<Severity, string> = { high: '#b3261e', medium: '#b26a00', low: '#1f6fb2', info: '#6b6b6b' };

const STYLE = `
:root{color-scheme:light;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1d1f;background:#fff}
body{margin:0 auto;max-width:1100px;padding:24px}
h1{font-size:1.5rem;margin:0 0 4px}h2{font-size:1.15rem;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555;font-size:.9rem}.counts span{display:inline-block;margin-right:12px;font-weight:600}
.sev{display:inline-block;min-width:4.5em;padding:1px 6px;border-radius:4px;color:#fff;font-size:.75rem;font-weight:700;text-align:center;text-transform:uppercase}
.sev-high{background:${COLORS.high}}.sev-medium{background:${COLORS.medium}}.sev-low{background:${COLORS.low}}.sev-info{background:${COLORS.info}}
.t-high{color:${COLORS.high}}.t-medium{color:${COLORS.medium}}.t-low{color:${COLORS.low}}.t-info{color:${COLORS.info}}
details{border:1px solid #e2e2e2;border-radius:6px;margin:6px 0;padding:6px 10px}summary{cursor:pointer}
summary code{font-size:.85rem}.rule{color:#555}
pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:.8rem;white-space:pre-wrap;word-break:break-all}
ul.locs{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.8rem;margin:4px 0;padding-left:20px}
.clean{color:#555}.note{color:#555;font-size:.85rem}
svg text{font-family:inherit;font-size:12px}
`;

export function htmlEscape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;'));
}

function safeHref(uri: string): string | undefined {
  return /^https:\/\//i.test(uri) ? htmlEscape(uri) : undefined;
}

/** The per-item chart: one row per checklist item, a bar per severity, scaled to the largest item. */
export function renderChart(report: ScanReport): string {
  const grouped = byItem(report.findings);
  const checked = new Set(report.rules.map((r) => r.item));
  const rowHeight = 22;
  const labelWidth = 290;
  const barWidth = 560;
  const height = CHECKLIST.length * rowHeight + 30;
  let max = 1;
  for (const list of grouped.values()) max = Math.max(max, list.length);
  const rows: string[] = [];
  CHECKLIST.forEach((item, i) => {
    const list = grouped.get(item.id)!;
    const counts = countBySeverity(list);
    const y = i * rowHeight + 4;
    rows.push(`<text x="0" y="${y + 14}">${htmlEscape(`${item.id}. ${item.title}`)}</text>`);
    let x = labelWidth;
    for (const severity of SEVERITIES) {
      const n = counts[severity];
      if (n === 0) continue;
      const w = Math.max(2, Math.round((n / max) * barWidth));
      rows.push(`<rect class="bar" data-item="${item.id}" data-severity="${severity}" x="${x}" y="${y}" width="${w}" height="16" fill="${COLORS[severity]}"><title>${htmlEscape(`${item.title}: ${n} ${severity}`)}</title></rect>`);
      x += w;
    }
    // ✓ checked and clean; – no check of this scan covers the item.
    rows.push(`<text x="${x + 6}" y="${y + 14}">${list.length > 0 ? list.length : checked.has(item.id) ? '✓' : '– not checked'}</text>`);
  });
  let lx = labelWidth;
  const legendY = CHECKLIST.length * rowHeight + 16;
  for (const severity of SEVERITIES) {
    rows.push(`<rect x="${lx}" y="${legendY}" width="10" height="10" fill="${COLORS[severity]}"></rect><text x="${lx + 14}" y="${legendY + 9}">${severity}</text>`);
    lx += 80;
  }
  return `<svg id="summary-chart" role="img" aria-label="Findings per checklist item and severity" xmlns="http://www.w3.org/2000/svg" width="${labelWidth + barWidth + 60}" height="${height}" viewBox="0 0 ${labelWidth + barWidth + 60} ${height}">${rows.join('')}</svg>`;
}

function renderFinding(finding: Finding, report: ScanReport, suppression?: { reason: string; expires: string }): string {
  const rule = finding.rule;
  const ops = operationsOf(finding, report.operations ?? []);
  const href = safeHref(rule.helpUri);
  const locations = finding.locations.slice(0, MAX_LOCATIONS).map((l) => `<li>${htmlEscape(formatLocation(l))}</li>`);
  if (finding.locations.length > MAX_LOCATIONS) locations.push(`<li>… ${finding.locations.length - MAX_LOCATIONS} more (JSON and SARIF reports list them all)</li>`);
  const evidence = (finding.evidence ?? [])
    .map((e) => [e.note ? `note: ${e.note}` : '', e.request ? `request:\n${e.request}` : '', e.response ? `response:\n${e.response}` : ''].filter(Boolean).join('\n\n'))
    .map((text) => `<pre class="evidence">${htmlEscape(maskSecrets(text))}</pre>`);
  return (
    `<details class="finding" data-rule="${htmlEscape(rule.id)}" data-severity="${rule.severity}">` +
    `<summary><span class="sev sev-${rule.severity}">${rule.severity}</span> <code>${htmlEscape(rule.id)}</code> ${htmlEscape(maskSecrets(finding.message))}</summary>` +
    (suppression ? `<p class="note">Accepted by the baseline until ${htmlEscape(suppression.expires)}: ${htmlEscape(suppression.reason)}</p>` : '') +
    `<p><strong>${htmlEscape(rule.title)}.</strong> ${htmlEscape(rule.explanation)}</p>` +
    `<p><strong>Fix:</strong> ${htmlEscape(rule.fix)}</p>` +
    `<p class="rule">${htmlEscape(`${rule.owasp} ${OWASP_API_TOP10_2023[rule.owasp].title}`)}${href ? ` · <a href="${href}" rel="noreferrer">${href}</a>` : ''} · fingerprint <code>${htmlEscape(finding.fingerprint)}</code></p>` +
    (ops.length > 0 ? `<p>Operations: ${htmlEscape(ops.slice(0, 50).map((o) => `${o.method} ${o.path}`).join(', '))}${ops.length > 50 ? ` … ${ops.length - 50} more` : ''}</p>` : '') +
    `<ul class="locs">${locations.join('')}</ul>` +
    evidence.join('') +
    `</details>`
  );
}

export function renderHtml(report: ScanReport): string {
  const counts = countBySeverity(report.findings);
  const grouped = byItem(report.findings);
  const sections: string[] = [];
  const clean: string[] = [];
  const unchecked: string[] = [];
  const checked = new Set(report.rules.map((r) => r.item));
  for (const item of CHECKLIST) {
    const list = grouped.get(item.id)!;
    if (list.length === 0) {
      (checked.has(item.id) ? clean : unchecked).push(`${item.id}. ${item.title}`);
      continue;
    }
    sections.push(
      `<section id="item-${item.id}"><h2>${htmlEscape(`${item.id}. ${item.title}`)} <span class="rule">(${htmlEscape(item.owasp.join(', '))}) · ${list.length} finding${list.length === 1 ? '' : 's'}</span></h2>` +
        list.map((f) => renderFinding(f, report)).join('') +
        `</section>`,
    );
  }
  const suppressed = report.suppressed.length
    ? `<section id="suppressed"><h2>Accepted by the baseline (${report.suppressed.length})</h2>${report.suppressed.map((s) => renderFinding(s.finding, report, s)).join('')}</section>`
    : '';
  const notes = report.notes && report.notes.length ? `<section id="notes"><h2>Notes</h2><ul>${report.notes.map((n) => `<li class="note">${htmlEscape(n)}</li>`).join('')}</ul></section>` : '';
  const styleHash = createHash('sha256').update(STYLE).digest('base64');
  const csp = `default-src 'none'; style-src 'sha256-${styleHash}'; img-src 'none'; base-uri 'none'; form-action 'none'`;
  const scanned = [...report.specs, ...(report.target ? [report.target] : [])].join(', ');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${htmlEscape(`rampart scan: ${scanned}`)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>rampart scan</h1>
<p class="meta">${htmlEscape(scanned)} · ${htmlEscape(report.startedAt)} · rampart ${htmlEscape(report.tool.version)}${report.partial ? ' · <strong>PARTIAL: the scan stopped early</strong>' : ''}</p>
<p class="counts">${SEVERITIES.map((s) => `<span class="t-${s}">${counts[s]} ${s}</span>`).join('')}<span>${report.suppressed.length} accepted</span><span>${report.operations?.length ?? 0} operations</span><span>${report.rules.length} checks</span></p>
</header>
<main>
<h2>Findings per checklist item</h2>
${renderChart(report)}
${sections.join('\n')}
${clean.length ? `<h2>Checked, no findings</h2><p class="clean">${htmlEscape(clean.join(' · '))}</p>` : ''}
${unchecked.length ? `<h2>Not checked by this scan</h2><p class="clean">${htmlEscape(unchecked.join(' · '))}</p>` : ''}
${suppressed}
${notes}
</main>
</body>
</html>
`;
}
