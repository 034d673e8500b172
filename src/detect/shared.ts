/**
 * Detector state shared by several gateway processes through one Redis (`detectors.state: redis`), so that an
 * attack spread over the nodes of a cluster is seen once, as a whole: six failed logins on each of two nodes are
 * twelve against a threshold of ten, one event for the cluster.
 *
 * The request path never waits for Redis. Each process keeps judging on its own state as in memory mode, and
 * additionally notes, per key, what changed since the last sync: inputs counted, and distinct values new to the
 * window (a value seen again soon after changes nothing, so it is not sent). Every `syncInterval` one batch per
 * process goes to Redis as one Lua script (shared-script.ts; large batches in chunks, pipelined on the one
 * connection). The script adds the deltas, reads the cluster-wide counts back, judges the thresholds and takes the
 * cluster cool-down lock, so one process (the first to see the crossing) raises the event and the others count a
 * suppressed repeat. What each detector shares:
 *
 * - per-key detectors (bruteForce, credentialStuffing distinct accounts, tokenSharing, bolaEnumeration) declare a
 *   `SharedSpec`: their windowed count and distinct set are summed over the cluster and judged there;
 * - baseline detectors (scraping, errorSpike, adminActivity, the credentialStuffing failure burst) judge on this
 *   process's own baseline and only ask the cluster for the cool-down lock ("claims") before raising, so one anomaly
 *   is one event for the cluster (README "Shared state" says why their baselines stay per process).
 *
 * Redis unreachable (not connected, a script failing or timing out): the detectors judge alone on their own state,
 * as in memory mode, `stats().state.degraded` says so and the log says it once; cool-downs they take meanwhile are
 * queued as claims and sent first when Redis answers again, which the next sync tries by itself. Deltas of a batch
 * that was sent and failed are dropped and counted (the script may have run before the answer was lost: sending
 * them again could count them twice); deltas noted while no connection existed are kept and sent on return.
 *
 * Cool-down ends (BaseDetector.tick): repeats of a cluster-judged key are counted in Redis, so the process that raised
 * asks, once its cool-down is over, for the repeats counted meanwhile ("ends", answered by the same script in the next
 * batch) and sends them as a follow-up event; a process that lost a claim forwards the repeats it counted locally
 * during the holder's cool-down ("forwards") so the holder's follow-up holds them too.
 *
 * Bounds: one dirty-list entry per key at most, capped at the detector's key capacity (a key beyond the cap is
 * judged on this process's state instead, its raise still subject to the cluster's cool-down lock); pending distinct
 * values per key capped at the detector's distinct cap; pending claims capped; every Redis key has a TTL
 * (shared-script.ts).
 */
import { createHash } from 'node:crypto';
import { DETECT_SYNC_LUA } from './shared-script.ts';
import { SampleRing, type Cooldown } from './state.ts';

/** Keys (and distinct values) per script call: large batches are split so no single script holds Redis long. */
const CHUNK_ENTRIES = 256;
/** Cool-down claims waiting for Redis (while it is unreachable) beyond which new ones are dropped and counted. */
const MAX_PENDING_CLAIMS = 10_000;
/** The same bound for end-of-cool-down questions and for forwarded repeats, each. */
const MAX_PENDING_ENDS = 10_000;

const SCRIPT_SHA = createHash('sha1').update(DETECT_SYNC_LUA).digest('hex');

/**
 * A fixed-length name for an attacker-chosen string (account, credential id, object id, address): the first 128 bits
 * of its SHA-256, base64url. Keys stay short and bounded whatever arrives, and Redis holds no identifier in clear
 * (pseudonymous, not anonymous: an IPv4 address can be found again by hashing all 2^32 of them).
 */
export function hashPart(value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 22);
}

/**
 * What a per-key detector notes for one key between two syncs. Per-key state classes extend it, so noting costs
 * field writes on an object the detector already holds: no lookup, no allocation (except the first new distinct
 * value of a sync interval, which creates the pending map).
 */
export class SharedSlot {
  /** The detector's key (already length-bounded); hashed once, on its first sync. */
  readonly key: string;
  hashed: string | undefined = undefined;
  /** In its link's dirty list, to go with the next sync. */
  dirty = false;
  /** The sync generation in which the full dirty list last refused this key (so it is counted once per sync). */
  refused = -1;
  /** Time of the latest input noted, and of the first one not yet synced. */
  at = 0;
  since = 0;
  /** Inputs since the last sync (repeats counted as suppressed when the cluster's cool-down holds). */
  hits = 0;
  /** Delta of the key's windowed count since the last sync. */
  count = 0;
  /** Distinct values new to the window since the last sync, with when they were seen. */
  values: Map<string, number> | undefined = undefined;
  /**
   * The request ids of the inputs that went to the cluster (counted, or bringing a new distinct value): the evidence
   * of an event the cluster judged, which is raised at a sync, after requests that changed nothing may have followed.
   */
  news: SampleRing | undefined = undefined;

  constructor(key: string) {
    this.key = key;
  }

  /** The sample of request ids for an event about this key: the news when state is shared, else `all`. */
  evidence(all: SampleRing): SampleRing {
    return this.news ?? all;
  }
}

/** The cluster-wide view of one key at a sync, for the event the winning process raises. */
export interface ClusterView {
  /** The time of this process's latest input for the key (the event's window end). */
  readonly at: number;
  readonly count: number;
  readonly distinct: number;
  /** Repeats any process saw during the previous cool-down. */
  readonly suppressed: number;
}

export interface SharedSignal<S extends SharedSlot> {
  readonly name: string;
  /** What crosses the threshold: the windowed count or the distinct values. */
  readonly measure: 'count' | 'distinct';
  readonly threshold: number;
  readonly cooldownMs: number;
  /** The key's local cool-down for this signal (kept in step with the cluster's). */
  readonly cooldown: (slot: S) => Cooldown;
  /** Raises the event: this process won the cluster's cool-down lock. */
  readonly raise: (slot: S, view: ClusterView) => void;
}

/** The per-key signals a detector lets the cluster judge. */
export interface SharedSpec<S extends SharedSlot> {
  readonly windowMs: number;
  /** Most distinct values kept per key (0: the detector counts no distinct values). */
  readonly distinctCap: number;
  readonly signals: readonly SharedSignal<S>[];
  /** Most keys pending at once: the detector's key capacity. */
  readonly maxPending: number;
  /**
   * Judges the key on this process's own state as of `at`, as memory mode would have. Called when Redis turns out to
   * be unreachable for keys whose inputs were noted for the cluster and not judged by it (their batch failed or could
   * not be sent), so those inputs are judged somewhere even if no further input for the key arrives.
   */
  readonly judgeAlone: (slot: S, at: number) => void;
}

/** A raise a baseline detector judged alone, waiting for the cluster's cool-down lock. */
export interface DeferredRaise {
  /** The lock was free: raise, with the repeats the cluster saw during the previous cool-down. */
  won(suppressed: number): void;
  /** Another process holds the lock: a repeat. */
  lost(): void;
  /** Redis did not answer: raise anyway (an event too many beats a missed one). */
  fallback(): void;
}

/** The answer to an end-of-cool-down question (DetectorLink.ends). */
export interface EndsAnswer {
  /**
   * Redis answered: the repeats the cluster counted during the cool-down, now taken from it; 0 when another process
   * raised the anomaly again since (that raise, or its own end, reports them).
   */
  answered(suppressed: number): void;
  /** Not answered: the pending list was full, the batch failed, or the process shut down while Redis was away. */
  unanswered(): void;
}

interface PendingEnd {
  readonly link: DetectorLink;
  readonly key: string;
  readonly signal: string;
  /** When the cool-down ends: the value this process's lock holds. */
  readonly end: number;
  readonly answer: EndsAnswer;
}

interface Forward {
  readonly link: DetectorLink;
  readonly key: string;
  readonly signal: string;
  readonly cooldownMs: number;
  readonly n: number;
}

interface Claim {
  readonly link: DetectorLink;
  readonly key: string;
  readonly signal: string;
  readonly at: number;
  readonly cooldownMs: number;
  /** Repeats to add to the cluster's suppressed count when the lock is held. */
  readonly n: number;
  readonly deferred: DeferredRaise | undefined;
}

/** One detector's connection to the shared state. */
export class DetectorLink {
  /** The detector's segment in Redis keys (its anomaly type without `anomaly.`). */
  readonly segment: string;
  readonly spec: SharedSpec<SharedSlot> | undefined;
  /** True while Redis cannot be used: the detector judges alone. Read on the request path: a plain field. */
  degraded = true;
  dirty: SharedSlot[] = [];
  readonly #state: SharedState;
  readonly #maxDirty: number;
  readonly #staleMs: number;
  readonly #pushMs: number;
  readonly #onSuppressed: () => void;

  constructor(state: SharedState, segment: string, spec: SharedSpec<SharedSlot> | undefined, onSuppressed: () => void) {
    this.#state = state;
    this.segment = segment;
    this.spec = spec;
    this.#maxDirty = spec?.maxPending ?? 0;
    this.#staleMs = spec?.windowMs ?? 0;
    // A count noted without any distinct news still goes out within an eighth of the window (its time skew bound).
    this.#pushMs = (spec?.windowMs ?? 0) / 8;
    this.#onSuppressed = onSuppressed;
  }

  /**
   * One input for `slot` at `at`, adding `count` to its windowed count. `push`: judge it at the next sync (the input
   * can cross a threshold); otherwise it rides along with the key's next sync, at the latest an eighth of a window on.
   */
  note(slot: SharedSlot, at: number, count: number, push: boolean, requestId: string | undefined): void {
    // Inputs pending for a whole window are outside it by now: start over instead of sending them as current.
    if (slot.hits === 0 || at - slot.since >= this.#staleMs) {
      slot.since = at;
      slot.hits = 0;
      slot.count = 0;
    }
    slot.at = at;
    slot.hits++;
    slot.count += count;
    if (push && requestId !== undefined) (slot.news ??= new SampleRing()).push(requestId);
    if (!slot.dirty && (push || at - slot.since >= this.#pushMs)) this.#queue(slot);
  }

  /** A distinct value new to the key's window (or seen again after a while, which moves its time on). */
  value(slot: SharedSlot, value: string, at: number, requestId: string | undefined): void {
    if (requestId !== undefined) (slot.news ??= new SampleRing()).push(requestId);
    let values = slot.values;
    if (values === undefined) slot.values = values = new Map();
    if (values.size < this.spec!.distinctCap || values.has(value)) values.set(value, at);
    if (!slot.dirty) this.#queue(slot);
  }

  /** Asks the cluster for the cool-down lock of (key, signal); with `deferred`, the raise waits for the answer. */
  claim(key: string, signal: string, at: number, cooldownMs: number, n: number, deferred?: DeferredRaise): void {
    this.#state.enqueue({ link: this, key, signal, at, cooldownMs, n, deferred });
  }

  /**
   * The cool-down this process raised for (key, signal), ending at `end`, is over: asks the cluster (with the next
   * sync) for the repeats counted in it. Never waits: the answer comes back through `answer`.
   */
  ends(key: string, signal: string, end: number, answer: EndsAnswer): void {
    this.#state.enqueueEnd({ link: this, key, signal, end, answer });
  }

  /** `n` repeats this process counted during a cool-down another process holds: added to the cluster's count. */
  forward(key: string, signal: string, cooldownMs: number, n: number): void {
    this.#state.enqueueForward({ link: this, key, signal, cooldownMs, n });
  }

  /** Another process raised this (key, signal): a repeat here. */
  heldElsewhere(slot: SharedSlot, signal: SharedSignal<SharedSlot>, heldUntil: number): void {
    signal.cooldown(slot).heldElsewhere(heldUntil - signal.cooldownMs);
    this.#onSuppressed();
  }

  #queue(slot: SharedSlot): void {
    if (this.dirty.length >= this.#maxDirty) {
      const generation = this.#state.generation;
      if (slot.refused !== generation) {
        slot.refused = generation;
        this.#state.dropped++;
      }
      return;
    }
    slot.dirty = true;
    this.dirty.push(slot);
  }

  /**
   * Whether the cluster judges `slot`'s latest input, so the detector need not: false while Redis is unreachable, and
   * for a key the full pending list refused during this sync interval. The detector then judges on its own state, so
   * a flood of other keys cannot hide this one; a raise still asks the cluster for the cool-down lock while Redis is
   * reachable (BaseDetector.raise), so it stays one event for the cluster.
   */
  judgedByCluster(slot: SharedSlot): boolean {
    return !this.degraded && slot.refused !== this.#state.generation;
  }
}

/** The subset of an ioredis client shared state uses. */
export interface SharedStateClient {
  readonly status: string;
  evalsha(sha: string, numKeys: number, ...args: string[]): Promise<unknown>;
  eval(script: string, numKeys: number, ...args: string[]): Promise<unknown>;
  ping(): Promise<unknown>;
}

/** Where the state changes are told (a pino logger fits). */
export interface SharedStateLog {
  warn(details: Record<string, unknown>, message: string): void;
  info(details: Record<string, unknown>, message: string): void;
}

export interface SharedStateOptions {
  readonly client: SharedStateClient;
  /** Prefix of every key, ending in a separator (e.g. `rampart:detect:`). */
  readonly keyPrefix: string;
  /** Host and port, for logs and stats (never the URL: it may hold a password). */
  readonly where: string;
  readonly log?: SharedStateLog | undefined;
  /** An exception from a detector callback (a bug: counted, never thrown into the sync loop). */
  readonly onError: (error: unknown) => void;
}

export interface SharedStateStats {
  readonly store: 'redis';
  readonly where: string;
  /** True while detectors judge alone because Redis cannot be used (also before the first sync succeeded). */
  readonly degraded: boolean;
  /** Syncs that sent something, and those of them that failed. */
  readonly syncs: number;
  readonly failedSyncs: number;
  /** Script calls sent (a sync sends one per chunk of at most 256 keys and claims). */
  readonly scripts: number;
  /** Keys whose deltas were dropped: sent in a failed batch, or over the pending cap. */
  readonly droppedDeltas: number;
  readonly pendingClaims: number;
  readonly droppedClaims: number;
  /** End-of-cool-down questions and forwarded repeats waiting for the next sync. */
  readonly pendingEnds: number;
  /**
   * End-of-cool-down questions and forwarded repeats that never got an answer: pending list full, batch failed, or
   * shut down while Redis was unreachable. A question not answered still gives its follow-up with this process's own
   * repeats; the cluster's stay in Redis (a later raise for the key reports them).
   */
  readonly droppedEnds: number;
}

interface Group {
  readonly link: DetectorLink;
  readonly slots: SharedSlot[];
  readonly ats: number[];
  readonly rows: unknown[][];
}

interface Chunk {
  readonly claims: Claim[];
  readonly ends: PendingEnd[];
  readonly forwards: Forward[];
  readonly groups: Group[];
  size: number;
}

export class SharedState {
  readonly #client: SharedStateClient;
  readonly #prefix: string;
  readonly #where: string;
  readonly #log: SharedStateLog | undefined;
  readonly #onError: (error: unknown) => void;
  readonly #links: DetectorLink[] = [];
  #claims: Claim[] = [];
  #ends: PendingEnd[] = [];
  #forwards: Forward[] = [];
  #droppedEnds = 0;
  #degraded = true;
  /** Whether this process ever synced: before that, being degraded is starting up, not news for the log. */
  #everSynced = false;
  #chain: Promise<void> = Promise.resolve();
  #busy = false;
  #timer: NodeJS.Timeout | undefined;
  #syncs = 0;
  #failedSyncs = 0;
  #scripts = 0;
  #droppedClaims = 0;
  /** Keys whose deltas were dropped (read by DetectorLink too). */
  dropped = 0;
  /** Counts the batches taken, so a key refused by a full dirty list is counted once per sync. */
  generation = 0;

  constructor(options: SharedStateOptions) {
    this.#client = options.client;
    this.#prefix = options.keyPrefix;
    this.#where = options.where;
    this.#log = options.log;
    this.#onError = options.onError;
  }

  get degraded(): boolean {
    return this.#degraded;
  }

  link(segment: string, spec: SharedSpec<SharedSlot> | undefined, onSuppressed: () => void): DetectorLink {
    const link = new DetectorLink(this, segment, spec, onSuppressed);
    link.degraded = this.#degraded;
    this.#links.push(link);
    return link;
  }

  /** Syncs every `intervalMs` (wall time) in the background; a sync still running is not overtaken. */
  start(intervalMs: number): void {
    this.#timer = setInterval(() => {
      if (!this.#busy) void this.sync();
    }, intervalMs);
    this.#timer.unref();
  }

  /** Sends what was noted and claimed so far and acts on the answer. Never rejects; calls run one after another. */
  sync(): Promise<void> {
    const run = this.#chain.then(() => this.#sync());
    this.#chain = run;
    return run;
  }

  /**
   * Stops the background syncs and sends what is pending one last time. End-of-cool-down questions that could not go
   * (Redis unreachable) are answered "unanswered" then, so their follow-ups still go out with this process's counts.
   */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.sync();
    const ends = this.#ends;
    this.#droppedEnds += ends.length + this.#forwards.length;
    this.#ends = [];
    this.#forwards = [];
    for (const end of ends) this.#unanswered(end);
  }

  enqueue(claim: Claim): void {
    if (this.#claims.length < MAX_PENDING_CLAIMS) {
      this.#claims.push(claim);
      return;
    }
    this.#droppedClaims++;
    claim.deferred?.fallback();
  }

  enqueueEnd(end: PendingEnd): void {
    if (this.#ends.length < MAX_PENDING_ENDS) {
      this.#ends.push(end);
      return;
    }
    this.#droppedEnds++;
    this.#unanswered(end);
  }

  enqueueForward(forward: Forward): void {
    if (this.#forwards.length < MAX_PENDING_ENDS) this.#forwards.push(forward);
    else this.#droppedEnds++;
  }

  #unanswered(end: PendingEnd): void {
    try {
      end.answer.unanswered();
    } catch (error) {
      this.#onError(error);
    }
  }

  stats(): SharedStateStats {
    return {
      store: 'redis',
      where: this.#where,
      degraded: this.#degraded,
      syncs: this.#syncs,
      failedSyncs: this.#failedSyncs,
      scripts: this.#scripts,
      droppedDeltas: this.dropped,
      pendingClaims: this.#claims.length,
      droppedClaims: this.#droppedClaims,
      pendingEnds: this.#ends.length + this.#forwards.length,
      droppedEnds: this.#droppedEnds,
    };
  }

  async #sync(): Promise<void> {
    this.#busy = true;
    try {
      // Not connected: nothing is sent, so nothing can be half-applied; what was noted waits for the connection.
      if (this.#client.status !== 'ready') {
        if (this.#setDegraded(true, 'not connected')) this.#judgeAlone(this.#links.flatMap((link) => link.dirty.map((slot) => ({ link, slot, at: slot.at }))));
        return;
      }
      const chunks = this.#take();
      if (chunks.length === 0) {
        if (this.#degraded) await this.#probe();
        return;
      }
      this.#syncs++;
      const replies = await Promise.allSettled(chunks.map((chunk) => this.#send(chunk)));
      const failed: Chunk[] = [];
      let failure: unknown;
      for (let i = 0; i < chunks.length; i++) {
        const reply = replies[i]!;
        if (reply.status === 'fulfilled') this.#apply(chunks[i]!, reply.value);
        else {
          failure ??= reply.reason;
          failed.push(chunks[i]!);
        }
      }
      if (failure === undefined) {
        this.#setDegraded(false);
        return;
      }
      this.#failedSyncs++;
      // Degraded first: what the failed chunks now raise goes out at once (and is claimed for later).
      this.#setDegraded(true, describe(failure));
      for (const chunk of failed) this.#fail(chunk);
    } catch (error) {
      this.#onError(error);
    } finally {
      this.#busy = false;
    }
  }

  async #probe(): Promise<void> {
    try {
      await this.#client.ping();
      this.#setDegraded(false);
    } catch (error) {
      this.#setDegraded(true, describe(error));
    }
  }

  /** Takes everything pending into chunks of at most CHUNK_ENTRIES entries: claims, forwards, deltas, ends. */
  #take(): Chunk[] {
    const chunks: Chunk[] = [];
    let chunk: Chunk | undefined;
    const room = (cost: number): Chunk => {
      if (chunk === undefined || (chunk.size > 0 && chunk.size + cost > CHUNK_ENTRIES)) {
        chunk = { claims: [], ends: [], forwards: [], groups: [], size: 0 };
        chunks.push(chunk);
      }
      chunk.size += cost;
      return chunk;
    };
    this.generation++;
    const claims = this.#claims;
    this.#claims = [];
    for (const claim of claims) room(1).claims.push(claim);
    const forwards = this.#forwards;
    this.#forwards = [];
    for (const forward of forwards) room(1).forwards.push(forward);
    for (const link of this.#links) {
      const dirty = link.dirty;
      if (dirty.length === 0) continue;
      link.dirty = [];
      let group: Group | undefined;
      let groupChunk: Chunk | undefined;
      for (const slot of dirty) {
        slot.dirty = false;
        const values: (string | number)[] = [];
        if (slot.values !== undefined) {
          for (const [value, at] of slot.values) values.push(hashPart(value), at);
          slot.values.clear();
        }
        const target = room(1 + (values.length >> 4));
        if (group === undefined || groupChunk !== target) {
          group = { link, slots: [], ats: [], rows: [] };
          groupChunk = target;
          target.groups.push(group);
        }
        slot.hashed ??= hashPart(slot.key);
        group.slots.push(slot);
        group.ats.push(slot.at);
        group.rows.push([slot.hashed, slot.at, slot.hits, slot.count, values]);
        slot.hits = 0;
        slot.count = 0;
      }
    }
    // Ends last (in the last chunks too): the repeats of this batch's deltas and forwards are counted before a
    // cool-down's count is taken.
    const ends = this.#ends;
    this.#ends = [];
    for (const end of ends) room(1).ends.push(end);
    return chunks;
  }

  async #send(chunk: Chunk): Promise<unknown> {
    const batch = {
      p: this.#prefix,
      c: chunk.claims.map((c) => [c.link.segment, hashPart(c.key), c.signal, c.at, c.cooldownMs, c.n, c.deferred === undefined ? 0 : 1]),
      f: chunk.forwards.map((f) => [f.link.segment, hashPart(f.key), f.signal, f.cooldownMs, f.n]),
      e: chunk.ends.map((e) => [e.link.segment, hashPart(e.key), e.signal, e.end]),
      d: chunk.groups.map((g) => {
        const spec = g.link.spec!;
        return {
          n: g.link.segment,
          w: spec.windowMs,
          cap: spec.distinctCap,
          s: spec.signals.map((s) => [s.name, s.measure === 'distinct' ? 'd' : 'c', s.threshold, s.cooldownMs]),
          k: g.rows,
        };
      }),
    };
    const json = JSON.stringify(batch);
    this.#scripts++;
    try {
      return await this.#client.evalsha(SCRIPT_SHA, 0, json);
    } catch (error) {
      // After a Redis restart or SCRIPT FLUSH the script is sent in full once (it is cached again from then on).
      if (error instanceof Error && error.message.startsWith('NOSCRIPT')) return this.#client.eval(DETECT_SYNC_LUA, 0, json);
      throw error;
    }
  }

  #apply(chunk: Chunk, reply: unknown): void {
    const rows = JSON.parse(String(reply)) as number[][];
    for (const [group, index, signal, won, count, distinct, x] of rows as [number, number, number, number, number, number, number][]) {
      try {
        if (group === 0) {
          const deferred = chunk.claims[index - 1]!.deferred!;
          if (won === 1) deferred.won(x);
          else deferred.lost();
          continue;
        }
        if (group === -1) {
          chunk.ends[index - 1]!.answer.answered(x);
          continue;
        }
        const g = chunk.groups[group - 1]!;
        const slot = g.slots[index - 1]!;
        const spec = g.link.spec!.signals[signal - 1]!;
        if (won === 1) spec.raise(slot, { at: g.ats[index - 1]!, count, distinct, suppressed: x });
        else g.link.heldElsewhere(slot, spec, x);
      } catch (error) {
        this.#onError(error);
      }
    }
  }

  /**
   * A chunk Redis did not answer: its deltas are dropped (the script may have run), its keys judged here and now on
   * this process's state, its claims wait for the next sync. Its end questions and forwards are dropped too (asking
   * again after the script took the count would find nothing, forwarding again could count twice): each question's
   * follow-up goes out with this process's own repeats.
   */
  #fail(chunk: Chunk): void {
    this.#droppedEnds += chunk.ends.length + chunk.forwards.length;
    for (const end of chunk.ends) this.#unanswered(end);
    for (const group of chunk.groups) {
      this.dropped += group.slots.length;
      this.#judgeAlone(group.slots.map((slot, i) => ({ link: group.link, slot, at: group.ats[i]! })));
    }
    for (const claim of chunk.claims) {
      const deferred = claim.deferred;
      if (deferred === undefined) {
        this.enqueue(claim);
        continue;
      }
      try {
        deferred.fallback();
      } catch (error) {
        this.#onError(error);
      }
      // Raised here: the cluster learns of its cool-down when Redis is back.
      this.enqueue({ ...claim, n: 0, deferred: undefined });
    }
  }

  #judgeAlone(keys: Array<{ link: DetectorLink; slot: SharedSlot; at: number }>): void {
    for (const { link, slot, at } of keys) {
      try {
        link.spec!.judgeAlone(slot, at);
      } catch (error) {
        this.#onError(error);
      }
    }
  }

  /** Returns true when the state changed. */
  #setDegraded(degraded: boolean, reason?: string): boolean {
    if (degraded === this.#degraded) return false;
    this.#degraded = degraded;
    for (const link of this.#links) link.degraded = degraded;
    if (degraded) {
      this.#log?.warn({ redis: this.#where, reason }, 'detectors: Redis unavailable; each process judges on its own state until it is back');
    } else {
      this.#log?.info(
        { redis: this.#where },
        this.#everSynced ? 'detectors: Redis reachable again; detector state is shared again' : 'detectors: detector state shared through Redis',
      );
      this.#everSynced = true;
    }
    return true;
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return (error as NodeJS.ErrnoException).code ?? error.message.slice(0, 200);
  return String(error).slice(0, 200);
}
