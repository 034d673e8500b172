/**
 * What a configuration reload changed, for the `config.reloaded` audit entry (issue 6 point 3, "config changes"):
 * the ids of routes and APIs added, removed and changed, and the names of the other top-level sections that
 * changed. Names and ids only, never a value: a document may hold secrets resolved from `${env:…}`, and an audit
 * entry must not carry them (nor a hash of them, which a guessable secret could be tested against).
 */

/** Ids listed per kind of change at most; the counts are always whole. */
const MAX_LISTED = 50;

export interface ConfigChange {
  readonly sections: readonly string[];
  readonly routes: EntryChanges;
  readonly apis: EntryChanges;
}

export interface EntryChanges {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
  /** Counts of the three lists before they were cut at MAX_LISTED. */
  readonly counts: { readonly added: number; readonly removed: number; readonly changed: number };
}

/** Entries of a `routes:` or `apis:` list by id; entries without a string id (refused at load) by position. */
function byId(list: unknown): Map<string, string> {
  const entries = new Map<string, string>();
  if (!Array.isArray(list)) return entries;
  list.forEach((entry, index) => {
    const id = typeof entry === 'object' && entry !== null && typeof (entry as { id?: unknown }).id === 'string' ? (entry as { id: string }).id : `#${index}`;
    entries.set(id, JSON.stringify(entry));
  });
  return entries;
}

function compareEntries(before: unknown, after: unknown): EntryChanges {
  const old = byId(before);
  const next = byId(after);
  const added: string[] = [];
  const removed: string[] = [];
  const changed: string[] = [];
  for (const [id, text] of next) {
    const previous = old.get(id);
    if (previous === undefined) added.push(id);
    else if (previous !== text) changed.push(id);
  }
  for (const id of old.keys()) if (!next.has(id)) removed.push(id);
  return {
    added: added.slice(0, MAX_LISTED),
    removed: removed.slice(0, MAX_LISTED),
    changed: changed.slice(0, MAX_LISTED),
    counts: { added: added.length, removed: removed.length, changed: changed.length },
  };
}

export function describeConfigChange(before: Readonly<Record<string, unknown>>, after: Readonly<Record<string, unknown>>): ConfigChange {
  const sections = new Set([...Object.keys(before), ...Object.keys(after)]);
  sections.delete('routes');
  sections.delete('apis');
  return {
    sections: [...sections].filter((name) => JSON.stringify(before[name]) !== JSON.stringify(after[name])).sort(),
    routes: compareEntries(before['routes'], after['routes']),
    apis: compareEntries(before['apis'], after['apis']),
  };
}
