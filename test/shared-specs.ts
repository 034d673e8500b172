/**
 * The public OpenAPI documents of ../shared/specs (beside the clone on CI and on these machines; never copied into
 * the project). A test that needs them skips only when the folder itself is absent, and says so loudly; with the
 * folder present, a document it names that is missing fails the test (a renamed corpus file must not turn a test off
 * in silence).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SHARED_SPECS = process.env.RAMPART_SPECS_DIR ?? fileURLToPath(new URL('../../shared/specs/', import.meta.url));

/** Whether ../shared/specs exists; when it does not, warns (once per caller) that `what` is skipped. */
export function sharedSpecsPresent(what: string): boolean {
  const present = existsSync(SHARED_SPECS);
  if (!present) console.warn(`\n*** SKIPPED: ${what} needs the shared specs at ${SHARED_SPECS}, which do not exist here (set RAMPART_SPECS_DIR). ***\n`);
  return present;
}
