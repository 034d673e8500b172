/** The in-memory adapter of every port: tests and throwaway runs; nothing survives the process. */
import { SecretBox } from '../../crypto/secret-box.ts';
import type { Stores } from '../ports.ts';
import { MemoryCounterStore, type MemoryCounterOptions } from './counters.ts';
import { MemoryIdentityStore } from './identities.ts';
import { MemorySessionStore } from './sessions.ts';

export { MemoryCounterStore, MemoryIdentityStore, MemorySessionStore };
export type { MemoryCounterOptions };

export interface MemoryStoreOptions {
  readonly masterKey: Buffer;
  readonly counters?: MemoryCounterOptions;
}

export function openMemoryStores(options: MemoryStoreOptions): Stores {
  const box = new SecretBox(options.masterKey);
  return {
    identities: new MemoryIdentityStore(box),
    sessions: new MemorySessionStore(),
    counters: new MemoryCounterStore(options.counters),
    close: async () => {},
  };
}
