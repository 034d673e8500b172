/**
 * Services of the gateway itself, reached by routes whose upstream is `rampart:NAME` (e.g. the built-in identity
 * endpoints, CSP reports). Such routes run the same canonical path, routing and policies as any other; only the
 * last step differs: the service answers instead of an upstream.
 */
import type { GatewayContext } from './context.ts';

export interface GatewayService {
  readonly name: string;
  /** Answers the request (ctx.res must be ended); a thrown error or rejection becomes a generic 500 problem. */
  handle(ctx: GatewayContext): void | Promise<void>;
}

export type GatewayServices = ReadonlyMap<string, GatewayService>;

/** Services every gateway has; `rampart config check` refuses any other `rampart:NAME`. */
export const BUILT_IN_SERVICES: readonly string[] = ['csp-report', 'identity', 'docs'];
