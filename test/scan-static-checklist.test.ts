/**
 * The static audit's rules against the checklist table every tool reads (src/checklist/items.ts): each rule names an
 * item and one of that item's OWASP categories, and its id is listed in the item's `scannerChecks`, or, until the
 * checklist names it, in STATIC_RULE_IDS_NOT_IN_CHECKLIST (which must shrink as ids are added there: an id listed in
 * both fails). Static and dynamic ids never collide: one report merges both rule lists by id.
 */
import { describe, expect, it } from 'vitest';
import { CHECKLIST, checklistItem } from '../src/checklist/items.ts';
import { ALL_STATIC_RULES, STATIC_RULE_IDS_NOT_IN_CHECKLIST } from '../src/scan/static/rules.ts';
import { DYNAMIC_RULE_LIST } from '../src/scan/dynamic/rules.ts';

describe('static rules and the checklist', () => {
  it('gives every rule a well-formed unique id, an item, one of its OWASP categories, help and a fix', () => {
    const ids = ALL_STATIC_RULES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const rule of ALL_STATIC_RULES) {
      expect(rule.id).toMatch(/^[a-z0-9-]+\.[a-z0-9-]+$/);
      expect(checklistItem(rule.item).owasp, rule.id).toContain(rule.owasp);
      expect(rule.helpUri, rule.id).toMatch(/^https:\/\//);
      expect(rule.explanation.length, rule.id).toBeGreaterThan(40);
      expect(rule.fix.length, rule.id).toBeGreaterThan(20);
      expect(Object.isFrozen(rule)).toBe(true);
    }
  });

  it('names each rule in its checklist item, or in the list of ids the checklist does not have yet', () => {
    const listed = new Map<string, number>();
    for (const item of CHECKLIST) for (const check of item.scannerChecks) listed.set(check, item.id);
    for (const rule of ALL_STATIC_RULES) {
      const item = listed.get(rule.id);
      if (item !== undefined) expect(item, `${rule.id} is listed under another item`).toBe(rule.item);
      else expect(STATIC_RULE_IDS_NOT_IN_CHECKLIST, `${rule.id} is neither in the checklist nor in STATIC_RULE_IDS_NOT_IN_CHECKLIST`).toContain(rule.id);
    }
    for (const id of STATIC_RULE_IDS_NOT_IN_CHECKLIST) {
      expect(listed.has(id), `${id} is in the checklist now: remove it from STATIC_RULE_IDS_NOT_IN_CHECKLIST`).toBe(false);
      expect(ALL_STATIC_RULES.some((r) => r.id === id), `${id} is not a static rule`).toBe(true);
    }
  });

  it('shares no id with the dynamic scan', () => {
    const dynamic = new Set(DYNAMIC_RULE_LIST.map((r) => r.id));
    expect(ALL_STATIC_RULES.map((r) => r.id).filter((id) => dynamic.has(id))).toEqual([]);
  });
});
