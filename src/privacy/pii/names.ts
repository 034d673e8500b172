/**
 * Member names that came from data (an upstream's answer, a request body) as logs and problem details name them.
 * A name is usually a schema word (`passwordHash`, `ssn`), which is what an operator needs to see; but a map keyed
 * by e-mail address or phone number has PII for names, and the contract's undeclared-property pointers would carry
 * them into the `contract.response-undeclared` event, the log line of a refused answer and the 400 answer's list.
 * Issue 5 point 4: "detected values are never written to any log". A name in which any PII detector finds a value is
 * written REDACTED_SEGMENT (`*`), as the PII and screening walkers write such names in their locations.
 */
import { REDACTED_SEGMENT } from '../../screening/index.ts';
import { PiiScanner } from './index.ts';

// Every detector; national phone formats of the US (the pii policy's default region); E.164 `+…` numbers count for
// every region.
const NAME_SCANNER = new PiiScanner({ detectors: PiiScanner.detectorIds, allow: [], phoneRegions: ['US'] });

/** `name`, or REDACTED_SEGMENT when it holds a value a PII detector finds. */
export function redactPiiName(name: string): string {
  return NAME_SCANNER.scanString(name).length > 0 ? REDACTED_SEGMENT : name;
}
