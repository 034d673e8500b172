/**
 * `releaseGarbageBetweenDocuments` asks V8 for a full collection only when the heap holds more than its threshold, and
 * then the garbage is gone.
 */
import { describe, expect, it } from 'vitest';
import { getHeapStatistics } from 'node:v8';
import { COLLECT_ABOVE_BYTES, releaseGarbageBetweenDocuments } from './memory.ts';

describe('releaseGarbageBetweenDocuments', () => {
  it('collects when the heap holds more than the threshold, and frees the garbage', () => {
    // Garbage well above the threshold: arrays that nothing references once built.
    let garbage: number[][] | undefined = Array.from({ length: 12 }, () => new Array<number>(1_000_000).fill(1.5));
    expect(getHeapStatistics().used_heap_size).toBeGreaterThan(COLLECT_ABOVE_BYTES);
    garbage = undefined;
    expect(garbage).toBeUndefined();
    expect(releaseGarbageBetweenDocuments()).toBe(true);
    expect(getHeapStatistics().used_heap_size).toBeLessThan(COLLECT_ABOVE_BYTES);
  });

  it('does nothing below the threshold', () => {
    releaseGarbageBetweenDocuments();
    expect(getHeapStatistics().used_heap_size).toBeLessThan(COLLECT_ABOVE_BYTES);
    expect(releaseGarbageBetweenDocuments()).toBe(false);
  });
});
