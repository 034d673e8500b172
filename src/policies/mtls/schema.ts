/** Config of the `mtls` policy (see index.ts). */
export const mtlsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['principals'],
  description:
    'Mutual TLS authentication: the client certificate (verified by the listener against tls.clientCa) identifies a consumer. ' +
    'Needs a TLS listener with clientCa.',
  properties: {
    identity: {
      enum: ['subject-cn', 'san-uri', 'san-dns', 'san-email'],
      default: 'san-uri',
      description: 'which name of the certificate identifies the client (SPIFFE IDs are san-uri)',
    },
    principals: {
      type: 'object',
      minProperties: 1,
      maxProperties: 10_000,
      description: 'certificate name → the consumer it is, with its roles; a valid certificate naming no entry is refused (deny by default)',
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['consumer'],
        properties: {
          consumer: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$' },
          roles: { type: 'array', default: [], maxItems: 64, uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: 64 } },
          tenant: { type: 'string', minLength: 1, maxLength: 128 },
        },
      },
    },
  },
} as const;

export interface MtlsConfig {
  readonly identity?: 'subject-cn' | 'san-uri' | 'san-dns' | 'san-email';
  readonly principals: Readonly<Record<string, { readonly consumer: string; readonly roles?: readonly string[]; readonly tenant?: string }>>;
}
