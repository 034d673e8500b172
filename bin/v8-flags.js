/**
 * V8 settings for a process whose job is to run the gateway. bin/rampart.js applies them for `rampart gateway` before
 * it loads any other module (V8 makes its decisions while code loads and the config is built, and they stay for the
 * process's lifetime), so this is plain JavaScript beside the entry point; the demo (demo/run.ts) applies them when it
 * starts. `Gateway.start` does not: a V8 flag is process-wide, and a program that embeds the gateway (the tests do)
 * keeps its own.
 */
import { setFlagsFromString } from 'node:v8';

/**
 * Turns off V8's allocation-site pretenuring.
 *
 * What it does: V8 samples, per allocation site, how many of the objects made there survive a young-generation
 * collection (scavenge), and once nearly all of them do, allocates that site's objects straight in the old
 * generation. Nearly everything made while a gateway starts survives (the config, the compiled validators, the
 * router), and some sites that decide then are generic ones that the request path uses too (streams, undici's
 * request objects). From then on each request's short-lived objects land in the old generation, where only a
 * mark-compact frees them, and every scavenge has to walk the old-to-new pointers they add.
 *
 * Measured (bench/contract.ts's pass-through route: POST with a 1 KB body streamed to the upstream, a 2 KB answer
 * streamed back, node 20, every one of five process starts): with pretenuring, 2.7 MB promoted per scavenge, a
 * scavenge every ~130 ms taking 13-15 ms, and GC at about 24 µs of the 230 µs a request cost in a CPU profile; without
 * it, nothing promoted, 1.5-2 ms per scavenge. A gateway allocates little that lives long after start-up and a great
 * deal that lives for one request, which is the case pretenuring guesses wrong.
 */
export function tuneV8ForGateway() {
  setFlagsFromString('--no-allocation-site-pretenuring');
}
