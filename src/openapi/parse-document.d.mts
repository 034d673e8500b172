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
      readonly files: readonly string[];
    };

export function parseOpenApiFile(file: string, timeoutMs?: number): Promise<ParseOutcome>;
