import { describe, it, expect } from 'vitest';
import { CHECKLIST, OWASP_API_TOP10_2023, checklistItem, type ChecklistItemId, type OwaspApi2023 } from './items.ts';

const KEBAB = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;
const SCANNER_CHECK_ID = /^[a-z][a-z0-9-]*\.[a-z][a-z0-9-]*$/;

describe('CHECKLIST', () => {
  it('holds items 1..16 in order', () => {
    expect(CHECKLIST.map((item) => item.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
  });

  it('has unique kebab-case slugs and unique titles', () => {
    const slugs = CHECKLIST.map((item) => item.slug);
    expect(new Set(slugs).size).toBe(16);
    for (const slug of slugs) expect(slug).toMatch(KEBAB);
    expect(new Set(CHECKLIST.map((item) => item.title)).size).toBe(16);
  });

  it('gives every item at least one practice, a risk, and non-empty texts', () => {
    for (const item of CHECKLIST) {
      expect(item.practices.length, `item ${item.id}`).toBeGreaterThan(0);
      for (const practice of item.practices) {
        expect(practice.title.trim()).not.toBe('');
        expect(practice.description.trim()).not.toBe('');
      }
      expect(item.risk.trim(), `item ${item.id}`).not.toBe('');
    }
  });

  it('keeps the seed checklist’s practice titles', () => {
    expect(checklistItem(1).practices.map((p) => p.title)).toEqual([
      'Implement Strong Authentication Mechanisms',
      'Enforce Multi-Factor Authentication',
    ]);
    expect(checklistItem(13).practices.map((p) => p.title)).toEqual(['Implement Strict CORS Policies']);
    expect(checklistItem(16).practices.map((p) => p.title)).toEqual([
      'Minimize Data Exposure',
      'Comply with Data Privacy Regulations',
    ]);
  });

  it('maps only to OWASP risks that exist, without duplicates, at least one each', () => {
    const known = new Set(Object.keys(OWASP_API_TOP10_2023));
    for (const item of CHECKLIST) {
      expect(item.owasp.length, `item ${item.id}`).toBeGreaterThan(0);
      expect(new Set(item.owasp).size, `item ${item.id}`).toBe(item.owasp.length);
      for (const ref of item.owasp) expect(known.has(ref), `item ${item.id}: ${ref}`).toBe(true);
    }
  });

  it('puts the expected primary OWASP risk first where the mapping is unambiguous', () => {
    const primary: Array<[ChecklistItemId, OwaspApi2023]> = [
      [1, 'API2:2023'],
      [2, 'API1:2023'],
      [5, 'API4:2023'],
      [7, 'API8:2023'],
      [10, 'API9:2023'],
      [11, 'API2:2023'],
      [13, 'API8:2023'],
      [15, 'API9:2023'],
      [16, 'API3:2023'],
    ];
    for (const [id, ref] of primary) expect(checklistItem(id).owasp[0], `item ${id}`).toBe(ref);
  });

  it('covers every OWASP 2023 risk with at least one item', () => {
    const covered = new Set(CHECKLIST.flatMap((item) => item.owasp));
    expect([...covered].sort()).toEqual(Object.keys(OWASP_API_TOP10_2023).sort());
  });

  it('gives every item at least one policy or scanner check, well-formed and unique', () => {
    const allChecks: string[] = [];
    for (const item of CHECKLIST) {
      expect(item.policies.length + item.scannerChecks.length, `item ${item.id}`).toBeGreaterThan(0);
      expect(new Set(item.policies).size, `item ${item.id}`).toBe(item.policies.length);
      for (const policy of item.policies) expect(policy).toMatch(KEBAB);
      for (const check of item.scannerChecks) expect(check).toMatch(SCANNER_CHECK_ID);
      allChecks.push(...item.scannerChecks);
    }
    // A check verifies one item: a report must be able to attribute each finding to exactly one item.
    expect(new Set(allChecks).size).toBe(allChecks.length);
  });

  it('marks only item 9 as not enforceable by the gateway, and gives it no policy', () => {
    const notEnforceable = CHECKLIST.filter((item) => !item.gatewayEnforceable).map((item) => item.id);
    expect(notEnforceable).toEqual([9]);
    expect(checklistItem(9).policies).toEqual([]);
    expect(checklistItem(9).scannerChecks.length).toBeGreaterThan(0);
    for (const item of CHECKLIST) {
      if (item.gatewayEnforceable) expect(item.policies.length, `item ${item.id}`).toBeGreaterThan(0);
    }
  });

  it('is frozen all the way down', () => {
    expect(Object.isFrozen(CHECKLIST)).toBe(true);
    for (const item of CHECKLIST) {
      expect(Object.isFrozen(item)).toBe(true);
      expect(Object.isFrozen(item.practices)).toBe(true);
      for (const practice of item.practices) expect(Object.isFrozen(practice)).toBe(true);
      expect(Object.isFrozen(item.owasp)).toBe(true);
      expect(Object.isFrozen(item.policies)).toBe(true);
      expect(Object.isFrozen(item.scannerChecks)).toBe(true);
    }
    expect(Object.isFrozen(OWASP_API_TOP10_2023)).toBe(true);
    for (const entry of Object.values(OWASP_API_TOP10_2023)) expect(Object.isFrozen(entry)).toBe(true);
    // ESM modules run in strict mode, so writes to frozen objects throw instead of failing silently.
    expect(() => {
      (CHECKLIST as object[]).push({});
    }).toThrow(TypeError);
    expect(() => {
      (checklistItem(1).policies as string[]).push('none');
    }).toThrow(TypeError);
    expect(() => {
      (checklistItem(1) as { slug: string }).slug = 'changed';
    }).toThrow(TypeError);
  });
});

describe('OWASP_API_TOP10_2023', () => {
  it('lists API1..API10 with the official titles and owasp.org pages', () => {
    expect(Object.keys(OWASP_API_TOP10_2023)).toEqual([
      'API1:2023',
      'API2:2023',
      'API3:2023',
      'API4:2023',
      'API5:2023',
      'API6:2023',
      'API7:2023',
      'API8:2023',
      'API9:2023',
      'API10:2023',
    ]);
    expect(OWASP_API_TOP10_2023['API1:2023'].title).toBe('Broken Object Level Authorization');
    expect(OWASP_API_TOP10_2023['API10:2023'].title).toBe('Unsafe Consumption of APIs');
    expect(OWASP_API_TOP10_2023['API10:2023'].url).toBe(
      'https://owasp.org/API-Security/editions/2023/en/0xaa-unsafe-consumption-of-apis/',
    );
    for (const [ref, { url }] of Object.entries(OWASP_API_TOP10_2023)) {
      const n = Number(ref.slice(3, ref.indexOf(':')));
      // OWASP numbers the pages 0xa1..0xa9, then 0xaa for the tenth.
      const page = `0xa${n === 10 ? 'a' : String(n)}-`;
      expect(url.startsWith(`https://owasp.org/API-Security/editions/2023/en/${page}`), ref).toBe(true);
      expect(url.endsWith('/'), ref).toBe(true);
    }
  });
});

describe('checklistItem', () => {
  it('returns the item with that id', () => {
    for (const item of CHECKLIST) expect(checklistItem(item.id)).toBe(item);
    expect(checklistItem(13).slug).toBe('cors');
    expect(checklistItem(1).slug).toBe('authentication');
  });

  it('throws on ids outside 1..16 that bypassed the type', () => {
    for (const bad of [0, 17, -1, 1.5, Number.NaN]) {
      expect(() => checklistItem(bad as ChecklistItemId)).toThrow(RangeError);
    }
  });
});
