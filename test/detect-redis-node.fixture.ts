/**
 * One gateway node's anomaly detection in its own OS process, for the shared-state tests (detect-redis.test.ts):
 * reads `{ detectors, items }` (JSON) from RAMPART_DETECT_NODE, replays the items with an injected clock into an
 * AnomalyDetection whose state is in Redis, syncs, and prints `{ "ready", "events", "state" }` on one stdout line.
 * Started with `node --import tsx test/detect-redis-node.fixture.ts`.
 */
import { AnomalyDetection, parseDetectorsConfig } from '../src/detect/index.ts';
import { ManualClock, replay, type TraceItem } from '../src/detect/traces.ts';
import { RecordingSecurityEvents } from '../src/observe/events.ts';

const input = JSON.parse(process.env.RAMPART_DETECT_NODE ?? '{}') as { detectors: unknown; items: TraceItem[] };
const parsed = parseDetectorsConfig(input.detectors);
if (!parsed.ok) throw new Error(parsed.errors.join('; '));
const sink = new RecordingSecurityEvents();
const clock = new ManualClock(input.items[0]?.at ?? 0);
const detection = new AnomalyDetection(parsed.config, { clock: clock.read, sink, autoSync: false });
const ready = await detection.ready;
replay({ name: 'node', seed: 0, start: clock.now, end: clock.now, items: input.items }, detection, clock);
await detection.sync();
const state = detection.stats().state;
await detection.close();
process.stdout.write(`${JSON.stringify({ ready, events: sink.events, state })}\n`);
