/**
 * Dynamic scan of a running API (issue 8 points 2 and 3): `rampart scan --target URL [--spec FILE] [--auth FILE]
 * [--ca FILE] [--allow-writes]`. The CLI (src/cli/scan-commands.ts, src/scan/run.ts) imports this module lazily.
 *
 * Interface
 * ---------
 * ```ts
 * runDynamicScan(options: DynamicScanOptions): Promise<{ findings: Finding[]; rules: RuleInfo[]; partial: boolean;
 *   stats: Record<string, number>; operations: ScanReport['operations']; notes: string[] }>
 *
 * DynamicScanOptions = {
 *   target: string;          // origin URL; every request goes to this origin only (redirects are not followed)
 *   specFile?: string;       // OpenAPI document (Swagger 2.0 / 3.0 / 3.1); without it only target-wide probes run
 *   auth?: AuthFile;         // parsed with loadAuthFile(path); JSON Schema: authFileSchema
 *   ca?: string;             // PEM of a private CA trusted in addition to the system roots (`--ca`)
 *   allowWrites: boolean;    // POST/PUT/PATCH/DELETE probes only when true (auth-file logins are always allowed)
 *   budget: number;          // most requests + TLS handshakes (DEFAULT_BUDGET = 2000)
 *   ratePerSecond: number;   // the scanner's own rate limit (DEFAULT_RATE_PER_SECOND = 20)
 *   signal?: AbortSignal;    // Ctrl-C: stops promptly, resolves with partial: true
 *   onProgress?: (done, total, label) => void;   // after every request; total is an estimate capped by budget
 *   // optional tuning: rateLimitBurst (50), timingDelaySeconds (2), timeoutMs (15000),
 *   // maxTokenLifetimeSeconds (3600), oversizedBytes (1 MiB)
 * }
 * ```
 * - `findings` use the shared model (src/scan/model.ts): `kind: 'http'` locations (method, path on the target,
 *   `operation` = operationId or `METHOD /template` when the request exercised a documented operation), evidence
 *   with request and response excerpts, credentials and personal data masked.
 * - `rules` lists every rule that ran (with findings or not), for SARIF rules and JUnit test cases.
 * - `partial` is true when the scan stopped early: the signal aborted, the budget ran out, the certificate did
 *   not verify (nothing can be sent safely then), the target answered none of its requests, or it stopped answering.
 * - `stats`: `requests`, `budget`, `operations`, `findings`, `logins`, `elapsedMs`, and counters for what could not
 *   be assessed (`tlsNotAssessedLoopback`, `writeOperationsSkipped`, `deletesSkippedNoOwnObject`,
 *   `ssrfNeedsLocalTarget`, `rateLimitNotAssessed`, `tlsVersionUntestable`, `aborted`, `budgetExhausted`,
 *   `credentialLost`, `stoppedByCertificate`, and `noAnswer` / `noAnswerTimeout` / `truncatedAnswers` for requests the
 *   target did not answer or whose body was cut at the read bound; `targetUnresponsive` / `nothingAnswered` when the
 *   target answered none of the first 10 requests / none at all, `targetStoppedAnswering` when it answered and then
 *   left 20 requests in a row unanswered: the scan is then partial).
 * - `operations`: the document's operations the scan sent requests for (key, method, path template, `#` pointer and
 *   line in the spec), the same shape as the static audit's, for JUnit test cases; `notes`: what was not assessed.
 * - Rejects (ScanSetupError) when the target URL, the OpenAPI document or a login of the auth file cannot be used
 *   at the start; a login that fails later ends the scan with `partial: true` instead.
 *
 * Every rule id is in DYNAMIC_RULE_LIST (rules.ts), each with its checklist item and OWASP category.
 */
export { runDynamicScan, DEFAULT_BUDGET, DEFAULT_RATE_PER_SECOND, type DynamicScanOptions, type DynamicScanResult } from './scan.ts';
export { authFileSchema, loadAuthFile, parseAuthFile, AuthFileError, type AuthFile, type Credential, type LoginCredential, type PrincipalName } from './auth-file.ts';
export { ScanSetupError } from './credentials.ts';
export { DYNAMIC_RULES, DYNAMIC_RULE_LIST, DYNAMIC_RULE_IDS_NOT_IN_CHECKLIST } from './rules.ts';
