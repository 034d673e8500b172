/**
 * The access log's batched writer: lines go out in batches (full, or 50 ms after their first line), one write at a
 * time, in order, nothing lost; a write that fails counts its lines as dropped. Driven with a write function the test
 * completes by hand and fake timers, so batching is asserted by counts, never by wall time.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AccessLog, BatchedWriter, type WriteFunction } from './logger.ts';

/** A write function whose writes complete only when the test says so. */
function manualWrites() {
  const pending: Array<{ data: string; done: (error: NodeJS.ErrnoException | null) => void }> = [];
  const written: string[] = [];
  const writeFn: WriteFunction = (_fd, data, callback) => {
    pending.push({
      data,
      done: (error) => {
        if (error === null) written.push(data);
        callback(error);
      },
    });
  };
  return {
    writeFn,
    pending,
    written,
    /** Completes the oldest write in flight (successfully unless `error`). */
    complete(error: NodeJS.ErrnoException | null = null) {
      const next = pending.shift();
      if (next === undefined) throw new Error('no write in flight');
      next.done(error);
    },
  };
}

const line = (i: number) => `{"n":${i}}\n`;

describe('BatchedWriter', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes a quiet trickle of lines once, 50 ms after the first', () => {
    const io = manualWrites();
    const writer = new BatchedWriter(99, true, io.writeFn);
    for (let i = 0; i < 5; i++) writer.write(line(i));
    expect(io.pending).toHaveLength(0);
    vi.advanceTimersByTime(BatchedWriter.DELAY_MS - 1);
    expect(io.pending).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(io.pending.map((w) => w.data)).toEqual([[0, 1, 2, 3, 4].map(line).join('')]);
    expect(writer.writes).toBe(1);
  });

  it('lines that arrive during a write do not make a write of their own when it completes: they wait for their delay or a full batch', () => {
    const io = manualWrites();
    const writer = new BatchedWriter(99, true, io.writeFn);
    writer.write(line(0));
    vi.advanceTimersByTime(BatchedWriter.DELAY_MS);
    expect(io.pending).toHaveLength(1);
    // Under load, a few lines come in while the write is in flight.
    for (let i = 1; i <= 3; i++) writer.write(line(i));
    io.complete();
    // Before: one more small write right away (a thread-pool round trip for three lines). Now: none yet.
    expect(io.pending).toHaveLength(0);
    for (let i = 4; i <= 6; i++) writer.write(line(i));
    vi.advanceTimersByTime(BatchedWriter.DELAY_MS);
    expect(io.pending.map((w) => w.data)).toEqual([[1, 2, 3, 4, 5, 6].map(line).join('')]);
    io.complete();
    expect(io.written.join('')).toBe([0, 1, 2, 3, 4, 5, 6].map(line).join(''));
    expect(writer.writes).toBe(2);
  });

  it('a drain that falls due during a write (full batch or delay over) runs as soon as the write completes', () => {
    const io = manualWrites();
    const writer = new BatchedWriter(99, true, io.writeFn);
    const big = 'x'.repeat(1000) + '\n';
    let sent = 0;
    while (io.pending.length === 0) {
      writer.write(big);
      sent++;
    }
    expect(sent * big.length).toBeGreaterThanOrEqual(BatchedWriter.BATCH);
    // A full batch more arrives while the first is in flight: due, but only one write at a time.
    for (let i = 0; i < sent; i++) writer.write(big);
    expect(io.pending).toHaveLength(1);
    io.complete();
    expect(io.pending).toHaveLength(1);
    io.complete();
    // The delay running out during a write: the lines go when it completes.
    writer.write(line(1));
    vi.advanceTimersByTime(BatchedWriter.DELAY_MS);
    writer.write(line(2));
    expect(io.pending).toHaveLength(1);
    vi.advanceTimersByTime(BatchedWriter.DELAY_MS);
    expect(io.pending).toHaveLength(1);
    io.complete();
    expect(io.pending.map((w) => w.data)).toEqual([line(2)]);
    io.complete();
    expect(io.written.join('')).toBe(big.repeat(2 * sent) + line(1) + line(2));
    expect(writer.writes).toBe(4);
  });

  it('a failed write counts its lines as dropped; the next batch is written', () => {
    const io = manualWrites();
    const writer = new BatchedWriter(99, true, io.writeFn);
    writer.write(line(1));
    writer.write(line(2));
    vi.advanceTimersByTime(BatchedWriter.DELAY_MS);
    io.complete(Object.assign(new Error('disk full'), { code: 'ENOSPC' }));
    expect(writer.dropped).toBe(2);
    writer.write(line(3));
    vi.advanceTimersByTime(BatchedWriter.DELAY_MS);
    io.complete();
    expect(io.written).toEqual([line(3)]);
  });

  it('flush writes everything pending, in order, whatever the timers', async () => {
    const io = manualWrites();
    const writer = new BatchedWriter(99, true, io.writeFn);
    writer.write(line(1));
    vi.advanceTimersByTime(BatchedWriter.DELAY_MS);
    writer.write(line(2));
    writer.write(line(3));
    const flushed = writer.flush();
    io.complete();
    await Promise.resolve();
    io.complete();
    await flushed;
    expect(io.written.join('')).toBe([1, 2, 3].map(line).join(''));
    expect(io.pending).toHaveLength(0);
  });
});

describe('AccessLog to a real file', () => {
  it('every line arrives, in order, as JSON, after flush', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-access-'));
    try {
      const file = join(dir, 'access.log');
      const log = new AccessLog({ destination: file, redact: ['client'] });
      for (let i = 0; i < 3000; i++) {
        log.write({ reqId: `r${i}`, client: '192.0.2.1', method: 'GET', path: `/p/${i}`, route: 'r', status: 200, bytesIn: 0, bytesOut: 96, ms: 1.5, upstreamMs: 1, error: undefined });
      }
      await log.flush();
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.map((l) => l.reqId)).toEqual(Array.from({ length: 3000 }, (_, i) => `r${i}`));
      expect(lines.every((l) => l.client === '[redacted]')).toBe(true);
      expect(log.dropped).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
