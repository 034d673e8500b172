/** Turns off V8's allocation-site pretenuring for a gateway process (v8-flags.js says why). */
export function tuneV8ForGateway(): void;
