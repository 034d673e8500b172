import { describe, expect, it } from 'vitest';
import { describeConfigChange } from './change.ts';

const route = (id: string, upstream = 'http://a') => ({ id, match: { path: `/${id}` }, upstream, public: true });

describe('describeConfigChange', () => {
  it('names routes added, removed and changed, and the sections that changed, without values', () => {
    const before = { mode: 'production', counters: { store: 'redis://:s3cret@r:6379' }, routes: [route('a'), route('b'), route('c')] };
    const after = { mode: 'production', counters: { store: 'redis://:0ther@r:6379' }, audit: { store: 'sqlite:x' }, routes: [route('a'), route('b', 'http://b2'), route('d')] };
    const change = describeConfigChange(before, after);
    expect(change).toEqual({
      sections: ['audit', 'counters'],
      routes: { added: ['d'], removed: ['c'], changed: ['b'], counts: { added: 1, removed: 1, changed: 1 } },
      apis: { added: [], removed: [], changed: [], counts: { added: 0, removed: 0, changed: 0 } },
    });
    expect(JSON.stringify(change)).not.toMatch(/s3cret|0ther|http:\/\/b2/);
  });

  it('nothing changed: empty lists', () => {
    const document = { routes: [route('a')], apis: [{ id: 'orders', upstream: 'http://o' }] };
    expect(describeConfigChange(document, structuredClone(document))).toMatchObject({ sections: [], routes: { counts: { added: 0, removed: 0, changed: 0 } } });
  });

  it('bounds the lists and keeps the counts whole; entries without an id go by position', () => {
    const many = Array.from({ length: 120 }, (_, i) => route(`r${i}`));
    const change = describeConfigChange({ routes: [] }, { routes: [...many, { match: { path: '/x' } }] });
    expect(change.routes.added).toHaveLength(50);
    expect(change.routes.counts.added).toBe(121);
    expect(describeConfigChange({ routes: 'not a list' }, { routes: [{}] }).routes.added).toEqual(['#0']);
  });
});
