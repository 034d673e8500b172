/**
 * A count of events over a rolling time window, kept in a fixed ring of buckets (the Hystrix / resilience4j
 * "time-based sliding window"): memory is constant and recording an event never allocates, whatever the
 * request rate. The window's effective span is between `windowMs - bucketWidth` and `windowMs`, which is
 * the usual trade-off for bucketed windows.
 */
export class RollingCount {
  private readonly bucketWidth: number;
  private readonly bucketCount: number;
  /** Absolute bucket number (floor(now / bucketWidth)) each slot currently holds; -1 when never used. */
  private readonly slotBucket: Float64Array;
  private readonly slotCount: Float64Array;

  constructor(windowMs: number, bucketCount = 10) {
    if (!(windowMs > 0) || !Number.isFinite(windowMs)) throw new RangeError(`rolling window must be a positive duration, got ${windowMs}`);
    if (!Number.isInteger(bucketCount) || bucketCount < 1) throw new RangeError(`bucket count must be a positive integer, got ${bucketCount}`);
    this.bucketWidth = windowMs / bucketCount;
    this.bucketCount = bucketCount;
    this.slotBucket = new Float64Array(bucketCount).fill(-1);
    this.slotCount = new Float64Array(bucketCount);
  }

  add(now: number, amount = 1): void {
    const bucket = Math.floor(now / this.bucketWidth);
    const slot = bucket % this.bucketCount;
    if (this.slotBucket[slot] !== bucket) {
      // The slot still holds a bucket that has left the window: recycle it.
      this.slotBucket[slot] = bucket;
      this.slotCount[slot] = amount;
    } else {
      this.slotCount[slot]! += amount;
    }
  }

  /** Events recorded in the window ending at `now`. */
  total(now: number): number {
    const currentBucket = Math.floor(now / this.bucketWidth);
    const oldestBucketInWindow = currentBucket - this.bucketCount + 1;
    let sum = 0;
    for (let slot = 0; slot < this.bucketCount; slot++) {
      const bucket = this.slotBucket[slot]!;
      // `<= currentBucket` ignores buckets "from the future" if the wall clock stepped backwards.
      if (bucket >= oldestBucketInWindow && bucket <= currentBucket) sum += this.slotCount[slot]!;
    }
    return sum;
  }

  reset(): void {
    this.slotBucket.fill(-1);
    this.slotCount.fill(0);
  }
}
