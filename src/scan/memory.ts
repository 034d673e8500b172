/**
 * Keeps the static audit of many documents within about one document's working set.
 *
 * Each document's parse trees (the parser's, the bundled document, the audit's indexes) become garbage as soon as its
 * findings are made, but they live long enough to be promoted to V8's old generation, which is only collected when it
 * reaches a limit that V8 sets generously for a process that allocates fast: over thirty documents the heap grows to
 * hold the garbage of several of them, and the process's peak memory is that, not one document's. So between
 * documents, when the heap holds more than `COLLECT_ABOVE_BYTES`, the audit asks V8 for a full collection: a few
 * tens of milliseconds each time, a few times per run.
 *
 * Node exposes V8's collector only with `--expose-gc`; a command cannot rely on its user passing it, so the flag is
 * turned on for the time it takes to fetch the function from a new context and off again (the pattern test runners
 * such as Jest's leak detector use). Where that fails, nothing is collected early and the audit works as before.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Above this much used heap, garbage from earlier documents is worth a full collection before the next one. */
export const COLLECT_ABOVE_BYTES = 64 * 1024 * 1024;

let collector: (() => void) | null | undefined;

/** V8's full collector (see the top), or null where it cannot be had. Also used by tests that measure the heap. */
export function fullCollector(): (() => void) | null {
  if (collector !== undefined) return collector;
  const exposed = (globalThis as { gc?: unknown }).gc;
  if (typeof exposed === 'function') {
    collector = () => (exposed as () => void)();
    return collector;
  }
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    collector = typeof gc === 'function' ? () => (gc as () => void)() : null;
  } catch {
    collector = null;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
  return collector;
}

/** Between two documents: collects the earlier ones' garbage when there is enough of it. Returns whether it did. */
export function releaseGarbageBetweenDocuments(): boolean {
  if (getHeapStatistics().used_heap_size < COLLECT_ABOVE_BYTES) return false;
  const collect = fullCollector();
  if (!collect) return false;
  collect();
  return true;
}
