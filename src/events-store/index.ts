/**
 * Entry point of the events store: `openEventsStore(url)` picks the adapter.
 *
 *   sqlite:<path>   a SQLite file (WAL), relative paths against `baseDir`
 *   memory:         in process memory, bounded (tests, throwaway runs)
 *
 * A PostgreSQL adapter (cluster mode) is not built yet; a postgres:// URL is refused with that reason.
 */
import { parseStoreUrl } from '../audit/store.ts';
import type { AuditDurability } from '../audit/store.ts';
import { MemoryEventsStore } from './memory.ts';
import { SqliteEventsStore } from './sqlite.ts';
import { EventsStoreError, type EventsStore } from './types.ts';

export * from './types.ts';
export { EventRecorder, type EventRecorderOptions } from './recorder.ts';
export { MemoryEventsStore } from './memory.ts';
export { SqliteEventsStore } from './sqlite.ts';

export function openEventsStore(url: string, options: { baseDir?: string; durability?: AuditDurability } = {}): EventsStore {
  if (url === 'memory:') return new MemoryEventsStore();
  let target;
  try {
    target = parseStoreUrl(url, options.baseDir);
  } catch (error) {
    throw new EventsStoreError(`events.store: ${(error as Error).message.replace('postgres://…', 'memory:')}`);
  }
  if (target.kind === 'postgres') throw new EventsStoreError('events.store: PostgreSQL is not supported for the events store yet; use sqlite:<path>');
  return new SqliteEventsStore(target.path, options.durability ? { durability: options.durability } : {});
}
