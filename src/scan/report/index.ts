/**
 * Report formats and where they go. `--format` takes several (`terminal,json,sarif,junit,html`); with `--out DIR`
 * each file-based format is written there under a fixed name, with `-o FILE` the single file-based format is written
 * to FILE, and without either the terminal summary goes to stdout (a single file-based format may go to stdout too).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Finding, ScanReport } from '../model.ts';
import { maskSecrets } from './common.ts';
import { renderHtml } from './html.ts';
import { writeJsonFile } from './json-file.ts';
import { renderJUnit } from './junit.ts';
import { renderSarif, sarifLog, SARIF_STREAMED_DEPTH } from './sarif.ts';
import { renderTerminal, type TerminalOptions } from './terminal.ts';

export const FORMATS = ['terminal', 'json', 'sarif', 'junit', 'html'] as const;
export type ReportFormat = (typeof FORMATS)[number];

/** File names under `--out DIR`. */
export const FILE_NAMES: Readonly<Record<Exclude<ReportFormat, 'terminal'>, string>> = {
  json: 'rampart-scan.json',
  sarif: 'rampart-scan.sarif',
  junit: 'rampart-scan.junit.xml',
  html: 'rampart-scan.html',
};

/** The report as is, with evidence masked again like every other format (the scanners mask before they report). */
export function renderJson(report: ScanReport): string {
  return JSON.stringify(jsonReport(report), null, 2) + '\n';
}

/** How deep `writeJsonFile` streams the JSON report: down to each finding (the report, its arrays). */
const JSON_STREAMED_DEPTH = 2;

function jsonReport(report: ScanReport): ScanReport {
  const mask = (f: Finding): Finding =>
    f.evidence
      ? { ...f, evidence: f.evidence.map((e) => Object.fromEntries(Object.entries(e).map(([k, v]) => [k, typeof v === 'string' ? maskSecrets(v) : v]))) }
      : f;
  return { ...report, findings: report.findings.map(mask), suppressed: report.suppressed.map((s) => ({ ...s, finding: mask(s.finding) })) };
}

/**
 * A report file: the JSON and SARIF ones, which reach tens of megabytes on large documents, are streamed to the file
 * (same bytes as `render`); the others are rendered whole.
 */
function writeReportFile(file: string, report: ScanReport, format: Exclude<ReportFormat, 'terminal'>): void {
  if (format === 'json') writeJsonFile(file, jsonReport(report), JSON_STREAMED_DEPTH);
  else if (format === 'sarif') writeJsonFile(file, sarifLog(report), SARIF_STREAMED_DEPTH);
  else writeFileSync(file, render(report, format));
}

export function render(report: ScanReport, format: ReportFormat, terminal: TerminalOptions = {}): string {
  switch (format) {
    case 'terminal':
      return renderTerminal(report, terminal);
    case 'json':
      return renderJson(report);
    case 'sarif':
      return renderSarif(report);
    case 'junit':
      return renderJUnit(report);
    case 'html':
      return renderHtml(report);
  }
}

export interface OutputPlan {
  readonly formats: readonly ReportFormat[];
  readonly outDir?: string;
  readonly outFile?: string;
}

/** Checks a plan before scanning (a usage error must not cost a scan); returns a message or undefined. */
export function planError(plan: OutputPlan): string | undefined {
  const files = plan.formats.filter((f) => f !== 'terminal');
  if (plan.outDir !== undefined && plan.outFile !== undefined) return '--out and -o cannot be used together';
  if (plan.outFile !== undefined && files.length !== 1) return '-o FILE takes exactly one of json, sarif, junit, html in --format (use --out DIR for several)';
  if (plan.outDir === undefined && plan.outFile === undefined && files.length > 1) return 'several file formats need --out DIR';
  if (plan.outDir === undefined && plan.outFile === undefined && files.length === 1 && plan.formats.includes('terminal')) return `--format terminal,${files[0]} writes two reports to stdout: add --out DIR or -o FILE`;
  return undefined;
}

/** Writes every report of the plan; returns the files written. Stdout output goes through `print`. */
export function writeReports(report: ScanReport, plan: OutputPlan, print: (text: string) => void, terminal: TerminalOptions = {}, cwd = process.cwd()): string[] {
  const written: string[] = [];
  for (const format of plan.formats) {
    if (format === 'terminal') {
      print(render(report, format, terminal));
    } else if (plan.outFile !== undefined) {
      const file = resolve(cwd, plan.outFile);
      writeReportFile(file, report, format);
      written.push(file);
    } else if (plan.outDir !== undefined) {
      const dir = resolve(cwd, plan.outDir);
      mkdirSync(dir, { recursive: true });
      const file = join(dir, FILE_NAMES[format]);
      writeReportFile(file, report, format);
      written.push(file);
    } else {
      print(render(report, format, terminal));
    }
  }
  return written;
}
