/**
 * The HTML report opened as a person opens it: Debian's headless Chromium (/usr/bin/chromium, driven by
 * playwright-core) loads the file from disk. No console error (so the CSP hash matches the stylesheet and nothing is
 * blocked), the per-item chart is there with one bar per item and severity, every finding is listed, and a script
 * smuggled into the file is blocked by its Content-Security-Policy. The same browser parses the JUnit report as XML.
 *
 * Needs /usr/bin/chromium (Debian package `chromium`); without it the test FAILS, naming the package.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { ScanReport } from '../src/scan/model.ts';
import { byItem, countBySeverity, SEVERITIES } from '../src/scan/report/common.ts';
import { renderHtml } from '../src/scan/report/html.ts';
import { renderJUnit } from '../src/scan/report/junit.ts';
import { buildReport, PLANTED_SECRETS } from './fixtures/scan/report-fixture.ts';

const CHROMIUM = '/usr/bin/chromium';
let browser: Browser;
let report: ScanReport;
let dir: string;

beforeAll(async () => {
  ({ report } = await buildReport());
  dir = mkdtempSync(join(tmpdir(), 'rampart-html-'));
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  } catch (error) {
    throw new Error(`Debian's Chromium is required at ${CHROMIUM}: install it with \`apt-get install -y chromium\`. Launch failed: ${(error as Error).message.split('\n')[0]}`);
  }
}, 60_000);

afterAll(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function open(html: string, name: string): Promise<{ page: Page; errors: string[] }> {
  const file = join(dir, name);
  writeFileSync(file, html);
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(pathToFileURL(file).href);
  return { page, errors };
}

describe('HTML report in Chromium', () => {
  it('renders without console errors, with the chart and every finding', { timeout: 60_000 }, async () => {
    const { page, errors } = await open(renderHtml(report), 'report.html');
    expect(errors).toEqual([]);
    const expectedBars = [...byItem(report.findings).values()].reduce((n, list) => n + SEVERITIES.filter((s) => countBySeverity(list)[s] > 0).length, 0);
    expect(await page.locator('svg#summary-chart').count()).toBe(1);
    expect(await page.locator('svg#summary-chart rect.bar').count()).toBe(expectedBars);
    const highBars = await page.locator('svg#summary-chart rect.bar[data-severity="high"]').count();
    expect(highBars).toBeGreaterThan(0);
    expect(await page.locator('details.finding').count()).toBe(report.findings.length + report.suppressed.length);
    // The stylesheet applied (its hash is in the CSP): severity badges have their colour.
    const badge = await page.locator('.sev-high').first().evaluate((el) => getComputedStyle(el).backgroundColor);
    expect(badge).toBe('rgb(179, 38, 30)');
    // Nothing from the spec or the evidence became markup, and no secret is on the page.
    expect(await page.locator('img').count()).toBe(0);
    const text = await page.locator('body').innerText();
    for (const secret of PLANTED_SECRETS) expect(text).not.toContain(secret);
    await page.close();
  });

  it('blocks a script injected into the file (the CSP allows no script at all)', { timeout: 60_000 }, async () => {
    const html = renderHtml(report).replace('</body>', '<script>document.title = "pwned"</script></body>');
    const { page, errors } = await open(html, 'tampered.html');
    expect(await page.title()).not.toBe('pwned');
    expect(errors.some((e) => /Content Security Policy/i.test(e))).toBe(true);
    await page.close();
  });

  it('parses the JUnit report as XML', { timeout: 60_000 }, async () => {
    const page = await browser.newPage();
    const xml = renderJUnit(report);
    const parsed = await page.evaluate((text) => {
      const doc = new DOMParser().parseFromString(text, 'application/xml');
      return {
        error: doc.getElementsByTagName('parsererror').length,
        suites: doc.getElementsByTagName('testsuite').length,
        cases: doc.getElementsByTagName('testcase').length,
        failures: doc.getElementsByTagName('failure').length,
        skipped: doc.getElementsByTagName('skipped').length,
        total: Number(doc.documentElement.getAttribute('tests')),
      };
    }, xml);
    expect(parsed.error).toBe(0);
    expect(parsed.suites).toBe(report.rules.length);
    expect(parsed.cases).toBe(parsed.total);
    expect(parsed.failures).toBeGreaterThan(0);
    expect(parsed.skipped).toBe(1);
    await page.close();
  });
});
