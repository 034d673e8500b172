/**
 * The internal operation model every OpenAPI version is normalised into (Swagger 2.0 `in: body`/`formData`,
 * `consumes`/`produces` and `collectionFormat` become request bodies, media types and style/explode), so that the
 * index, the validators and the minimizer know one shape only.
 *
 * Schemas are not copied: a `SchemaAt` is the schema object inside the bundled document plus its JSON pointer,
 * which is what compiled validators are keyed by and what errors name. For Swagger 2.0 parameters, whose schema
 * keywords sit on the parameter itself, the schema is synthesised and the pointer is the parameter's.
 */

export type OpenApiVersion = '2.0' | '3.0' | '3.1';

export type ParameterLocation = 'path' | 'query' | 'header' | 'cookie';

/** OpenAPI 3 `style` values (plus `tabDelimited` for Swagger 2.0 `collectionFormat: tsv`). */
export type ParameterStyle =
  | 'simple'
  | 'label'
  | 'matrix'
  | 'form'
  | 'spaceDelimited'
  | 'pipeDelimited'
  | 'tabDelimited'
  | 'deepObject';

export interface SchemaAt {
  readonly schema: unknown;
  readonly pointer: string;
}

export interface ParameterModel {
  readonly name: string;
  readonly in: ParameterLocation;
  readonly required: boolean;
  readonly style: ParameterStyle;
  readonly explode: boolean;
  /** `schema` of the parameter, or the schema of its single `content` entry. */
  readonly schema: SchemaAt | undefined;
  /** Set when the parameter uses `content` (the value is a serialised document of this media type, e.g. JSON). */
  readonly contentType: string | undefined;
  readonly pointer: string;
}

export interface EncodingModel {
  readonly contentType: string | undefined;
  readonly style: ParameterStyle;
  readonly explode: boolean;
}

export interface MediaModel {
  /** The declared media type or range, lower case, without parameters (`application/json`, `image/*`, `*\/*`). */
  readonly mediaType: string;
  readonly schema: SchemaAt | undefined;
  /** Per-property serialisation of form and multipart bodies. */
  readonly encoding: ReadonlyMap<string, EncodingModel>;
  readonly pointer: string;
}

export interface RequestBodyModel {
  readonly required: boolean;
  readonly content: readonly MediaModel[];
  readonly pointer: string;
}

export interface ResponseModel {
  /** `200`, `2XX` or `default`. */
  readonly status: string;
  readonly content: readonly MediaModel[];
  readonly pointer: string;
}

export interface OperationModel {
  /** `operationId`, or `METHOD /path` when the document gives none. */
  readonly key: string;
  readonly operationId: string | undefined;
  readonly method: string;
  /** The path template as written in the document (`/pets/{petId}`). */
  readonly path: string;
  readonly pointer: string;
  readonly parameters: readonly ParameterModel[];
  readonly requestBody: RequestBodyModel | undefined;
  readonly responses: readonly ResponseModel[];
  /** Every media type the operation may answer with (Swagger 2.0 `produces`, or the responses' `content` keys). */
  readonly produces: readonly string[];
}

export interface ApiModel {
  readonly version: OpenApiVersion;
  /** The bundled document (internal `$ref`s only); schemas in the model point into it. */
  readonly document: Readonly<Record<string, unknown>>;
  readonly operations: readonly OperationModel[];
}

/** A finding while loading: where, and what. Errors make enforcement impossible; warnings do not. */
export interface LoadIssue {
  readonly severity: 'error' | 'warning';
  /** Pointer in the bundled document ('' for the whole document). */
  readonly pointer: string;
  readonly message: string;
}
