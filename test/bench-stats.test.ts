/**
 * The bootstrap interval the benchmark targets report beside their point ratio (bench/stats.ts).
 */
import { describe, expect, it } from 'vitest';
import { evaluateTargets, type ContenderSummary, type RunMeasurement } from '../bench/runner.ts';
import { MIN_ROUNDS_FOR_INTERVAL, bootstrapRatioOfMedians, verdictAgainstMax } from '../bench/stats.ts';

/** Rounds of a subject costing `ratio` times the reference, with the round-to-round noise `spread` (fraction). */
function rounds(count: number, ratio: number, spread: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < count; i++) {
    // A fixed, irregular pattern (no randomness in the test): machine drift hits both runs of a round, plus each
    // run's own wobble.
    const drift = 1 + spread * Math.sin(i * 2.3);
    const own = 1 + (spread / 2) * Math.cos(i * 5.1);
    out.push([70 * ratio * drift * own, 70 * drift / own]);
  }
  return out;
}

describe('bootstrapRatioOfMedians', () => {
  it('brackets the point ratio of medians, and is the same for the same runs (seeded)', () => {
    const pairs = rounds(9, 1.1, 0.15);
    const interval = bootstrapRatioOfMedians(pairs)!;
    const sorted = (values: number[]) => values.slice().sort((a, b) => a - b);
    const point = sorted(pairs.map((p) => p[0]))[4]! / sorted(pairs.map((p) => p[1]))[4]!;
    expect(interval.low).toBeLessThanOrEqual(point);
    expect(interval.high).toBeGreaterThanOrEqual(point);
    expect(interval.low).toBeLessThan(interval.high);
    expect(interval).toMatchObject({ level: 0.95, rounds: 9 });
    expect(bootstrapRatioOfMedians(pairs)).toEqual(interval);
  });

  it('narrows with more rounds and with less noise, and a wider level gives a wider interval', () => {
    const width = (i: { low: number; high: number } | undefined) => i!.high - i!.low;
    expect(width(bootstrapRatioOfMedians(rounds(31, 1.1, 0.15)))).toBeLessThan(width(bootstrapRatioOfMedians(rounds(7, 1.1, 0.15))));
    expect(width(bootstrapRatioOfMedians(rounds(9, 1.1, 0.02)))).toBeLessThan(width(bootstrapRatioOfMedians(rounds(9, 1.1, 0.15))));
    const pairs = rounds(9, 1.1, 0.15);
    expect(width(bootstrapRatioOfMedians(pairs, { level: 0.99 }))).toBeGreaterThan(width(bootstrapRatioOfMedians(pairs, { level: 0.8 })));
  });

  it('a quiet machine: every round the same gives an interval of one point', () => {
    const interval = bootstrapRatioOfMedians(Array.from({ length: 7 }, () => [77, 70] as [number, number]))!;
    expect(interval.low).toBeCloseTo(1.1, 12);
    expect(interval.high).toBeCloseTo(1.1, 12);
  });

  it('gives no interval for too few rounds or unusable measurements', () => {
    expect(bootstrapRatioOfMedians(rounds(MIN_ROUNDS_FOR_INTERVAL - 1, 1.1, 0.1))).toBeUndefined();
    expect(bootstrapRatioOfMedians([...rounds(6, 1.1, 0.1), [80, 0]])).toBeUndefined();
    expect(bootstrapRatioOfMedians([...rounds(6, 1.1, 0.1), [Number.NaN, 70]])).toBeUndefined();
    expect(bootstrapRatioOfMedians([])).toBeUndefined();
  });
});

describe('verdictAgainstMax', () => {
  const at = (low: number, high: number) => ({ low, high, level: 0.95, rounds: 7 });
  it('says below, above or undecided', () => {
    expect(verdictAgainstMax(at(1.02, 1.12), 1.15)).toBe('below');
    expect(verdictAgainstMax(at(1.02, 1.15), 1.15)).toBe('below');
    expect(verdictAgainstMax(at(1.16, 1.3), 1.15)).toBe('above');
    expect(verdictAgainstMax(at(1.05, 1.2), 1.15)).toBe('undecided');
  });
});

describe('evaluateTargets (bench/runner.ts) with the interval', () => {
  function summary(name: string, cpu: readonly number[], failedRound?: number): ContenderSummary {
    const runs: RunMeasurement[] = cpu.map((cpuUsPerRequest, i) => ({
      round: i + 1,
      position: 1,
      contender: name,
      requests: 100_000,
      requestsPerSecond: 1e6 / cpuUsPerRequest,
      p50Ms: 3,
      p99Ms: 9,
      cpuTicks: 800,
      cpuUsPerRequest,
      proxyCpuBusyPercent: 99,
      loadCpuBusyPercent: 60,
      otherLoadOnProxyCpuPercent: 0,
      problems: i + 1 === failedRound ? ['wrk: socket errors'] : [],
      notes: [],
    }));
    const valid = runs.filter((r) => r.problems.length === 0).map((r) => r.cpuUsPerRequest).sort((a, b) => a - b);
    const mid = valid.length >> 1;
    const med = valid.length % 2 ? valid[mid]! : (valid[mid - 1]! + valid[mid]!) / 2;
    return {
      name,
      cpuOf: 'proxy',
      configDescription: name,
      runs,
      validRuns: valid.length,
      failedRuns: runs.length - valid.length,
      medians: { requestsPerSecond: 1e6 / med, p50Ms: 3, p99Ms: 9, cpuUsPerRequest: med },
    };
  }
  const target = { kind: 'cpu-ratio', contender: 'subject', reference: 'reference', max: 1.15 } as const;

  it('keeps PASS/FAIL on the point ratio and says when the rounds cannot decide it', () => {
    // Noisy rounds around 1.10: the point passes, the interval crosses 1.15.
    const noisy = [
      summary('subject', [73, 93, 84, 75, 77, 73, 97]),
      summary('reference', [59, 64, 82, 67, 71, 83, 75]),
    ];
    const [outcome] = evaluateTargets([target], noisy, []);
    expect(outcome).toMatchObject({ status: 'PASS', verdict: 'undecided' });
    expect(outcome!.detail).toMatch(/= 1\.0\d\d×; 95 % bootstrap interval over 7 rounds \d\.\d{3}-\d\.\d{3}, across the target: this run cannot decide it$/);
    expect(outcome!.interval!.low).toBeLessThan(1.15);
    expect(outcome!.interval!.high).toBeGreaterThan(1.15);

    // Quiet rounds at 1.05 and at 1.30: decided either way.
    const quietBelow = evaluateTargets([target], [summary('subject', [73.5, 74, 73.4, 73.6, 73.5]), summary('reference', [70, 70.4, 69.9, 70.1, 70])], []);
    expect(quietBelow[0]).toMatchObject({ status: 'PASS', verdict: 'below' });
    const quietAbove = evaluateTargets([target], [summary('subject', [91, 91.5, 90.8, 91.2, 91]), summary('reference', [70, 70.4, 69.9, 70.1, 70])], []);
    expect(quietAbove[0]).toMatchObject({ status: 'FAIL', verdict: 'above' });
  });

  it('no interval with fewer than five rounds; a failed run still makes the target INVALID', () => {
    const few = evaluateTargets([target], [summary('subject', [73, 74, 75]), summary('reference', [70, 70, 70])], []);
    expect(few[0]!.interval).toBeUndefined();
    expect(few[0]!.detail).not.toContain('interval');
    const failed = evaluateTargets([target], [summary('subject', [73, 74, 75, 73, 74], 2), summary('reference', [70, 70, 70, 70, 70])], []);
    expect(failed[0]).toMatchObject({ status: 'INVALID' });
  });
});
