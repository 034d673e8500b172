/**
 * A gateway in its own OS process, for the multi-process Redis tests (redis-rate-limit.e2e.test.ts): reads its
 * config document (JSON) from RAMPART_FIXTURE_CONFIG, prints `{"url": ...}` on one stdout line once it listens,
 * and stops cleanly on SIGTERM. Started with `node --import tsx test/redis-gateway.fixture.ts`.
 */
import { startTestGateway } from './helpers.ts';

const document = JSON.parse(process.env.RAMPART_FIXTURE_CONFIG ?? '{}') as Record<string, unknown>;
const gateway = await startTestGateway(document);
process.stdout.write(`${JSON.stringify({ url: gateway.url })}\n`);
process.once('SIGTERM', () => {
  void gateway.close().then(() => process.exit(0));
});
