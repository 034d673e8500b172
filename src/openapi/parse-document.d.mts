/** Types of parse-document.mjs (plain JavaScript so it can run in a worker thread without a TypeScript loader). */
export type ParseOutcome =
  | {
      readonly ok: true;
      /** The document with every external `$ref` bundled in; only internal `#/...` references remain. */
      readonly bundled: unknown;
      /** False when the Swagger/OpenAPI schema check failed (load.ts locates each failure itself). */
      readonly valid: boolean;
      readonly errors: readonly string[];
      readonly warnings: readonly string[];
      /** Every local file read (the document and the files its `$ref`s name). */
      readonly files: readonly string[];
    }
  | {
      readonly ok: false;
      readonly name: string;
      readonly message: string;
      /** For resolver errors: the file or URL that could not be read. */
      readonly source?: string;
      /** The first remote `$ref` refused, when that is why loading failed. */
      readonly remote?: string;
      /** The first file named by a `$ref` that was refused for nesting deeper than MAX_DOCUMENT_DEPTH, and where. */
      readonly tooDeep?: { readonly file: string; readonly line: number };
      readonly files: readonly string[];
    };

export function parseOpenApiFile(file: string, timeoutMs?: number): Promise<ParseOutcome>;

/**
 * How many Ajv instances the parser asked for and how many were built: one per Swagger/OpenAPI schema flavour when the
 * shared validators are in place (`shared`), one per document otherwise; `precompiled` lists the official schemas
 * served by their precompiled validator (official-validators.generated.cjs), `precompiledRuns` how many of the
 * parser's validations ran one.
 */
export function parserValidatorStats(): { requested: number; created: number; shared: boolean; precompiled: string[]; precompiledRuns: number };

/**
 * The official Swagger 2.0 / OpenAPI 3.0 / 3.1 schema validator as the parser's `validate` runs it (the parser's own
 * compiled function when the shared instances are in place).
 */
export function officialSchemaValidator(version: '2.0' | '3.0' | '3.1'): import('ajv').ValidateFunction;

/** The official schema object the parser validates a document of `version` against (3.1 adjusted as the parser does). */
export function officialSchema(version: '2.0' | '3.0' | '3.1'): Record<string, unknown>;

/** What the compiled code of an official validator depends on (Ajv versions, flavour, options, the schema's text). */
export function officialSchemaFingerprint(version: '2.0' | '3.0' | '3.1'): string;

/**
 * How many documents went through the parser's `bundle`, and how many were kept as parsed because `bundle` would have
 * returned them unchanged (a single file whose references are all canonical and direct, and no `$id`).
 */
export function parserBundleStats(): { bundled: number; skipped: number };

/** How deeply a document and every file its `$ref`s name may nest (measured by config/nesting.mjs). */
export const MAX_DOCUMENT_DEPTH: number;
