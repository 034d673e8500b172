/**
 * One contender in the cross-process race of sqlite.test.ts: opens the store file, says `ready`,
 * waits for `go` on stdin, then presents the same refresh token and the same TOTP step as every other
 * contender and prints what the store answered. Run with `node --import tsx`.
 */
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { parseMasterKey } from '../../crypto/master-key.ts';
import { openSqliteStores } from './index.ts';

const [path, masterKey, oldHash, newHash, userId, step] = process.argv.slice(2);
if (path === undefined || masterKey === undefined || oldHash === undefined || newHash === undefined || userId === undefined || step === undefined) {
  throw new Error('usage: race.fixture.ts <db> <master key> <old hash> <new hash> <user id> <step>');
}
const stores = openSqliteStores(path, { masterKey: parseMasterKey(masterKey) });
const lines = createInterface({ input: process.stdin });
process.stdout.write('ready\n');
await once(lines, 'line');
const rotation = await stores.sessions.rotateRefreshToken(oldHash, newHash, 1_750_000_000_500);
const totp = await stores.identities.recordTotpStep(userId, Number(step));
process.stdout.write(JSON.stringify({ rotation: rotation.status, totp }) + '\n');
lines.close();
await stores.close();
