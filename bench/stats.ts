/**
 * How sure one benchmark run is of a ratio: a percentile bootstrap interval of the ratio of medians over the rounds
 * of the run (Efron and Tibshirani, "An Introduction to the Bootstrap", 1993, ch. 13). On a shared VM one contender's
 * CPU per request moves by 10-20 % from round to round, so a run's point ratio can land on either side of a target
 * the true ratio is close to; the interval says whether this run can tell, or cannot.
 *
 * Rounds are resampled whole: both contenders' runs of a resampled round go together, since they shared that round's
 * machine state (interleaving is what makes the comparison fair; resampling keeps it). The generator is seeded, so
 * the same runs always give the same interval.
 */
import { mulberry32 } from '../src/detect/traces.ts';

export interface RatioInterval {
  readonly low: number;
  readonly high: number;
  /** The confidence level, e.g. 0.95. */
  readonly level: number;
  /** Rounds the interval was computed over. */
  readonly rounds: number;
}

/** The median of `values` (NaN when empty); the input is not changed. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The value below which `fraction` of the sorted `values` lie (linear interpolation between neighbours). */
function quantile(sorted: readonly number[], fraction: number): number {
  const at = (sorted.length - 1) * fraction;
  const below = Math.floor(at);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below]! + (sorted[above]! - sorted[below]!) * (at - below);
}

/** Fewer rounds than this give no interval: a resample of two rounds says nothing. */
export const MIN_ROUNDS_FOR_INTERVAL = 5;

/**
 * The `level` interval of median(subject) / median(reference) over `pairs` ([subject, reference] measured in the same
 * round), or undefined with fewer than MIN_ROUNDS_FOR_INTERVAL pairs or a non-positive reference.
 */
export function bootstrapRatioOfMedians(
  pairs: ReadonlyArray<readonly [number, number]>,
  options: { readonly level?: number; readonly resamples?: number; readonly seed?: number } = {},
): RatioInterval | undefined {
  const level = options.level ?? 0.95;
  const resamples = options.resamples ?? 4000;
  const n = pairs.length;
  if (n < MIN_ROUNDS_FOR_INTERVAL || pairs.some(([a, b]) => !(b > 0) || !Number.isFinite(a))) return undefined;
  const random = mulberry32(options.seed ?? 1);
  const ratios: number[] = [];
  const subject: number[] = new Array<number>(n);
  const reference: number[] = new Array<number>(n);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) {
      const [a, b] = pairs[Math.floor(random() * n)]!;
      subject[i] = a;
      reference[i] = b;
    }
    ratios.push(median(subject) / median(reference));
  }
  ratios.sort((a, b) => a - b);
  const tail = (1 - level) / 2;
  return { low: quantile(ratios, tail), high: quantile(ratios, 1 - tail), level, rounds: n };
}

/** Where the interval lies against an upper bound: wholly below, wholly above, or across it (undecided). */
export function verdictAgainstMax(interval: RatioInterval, max: number): 'below' | 'above' | 'undecided' {
  if (interval.high <= max) return 'below';
  if (interval.low > max) return 'above';
  return 'undecided';
}
