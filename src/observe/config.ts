/**
 * `observability:` in the gateway config: the bound and the identity of the per-consumer metrics, and
 * OpenTelemetry tracing. Read once at start (tracing) and at every reload (consumer labels).
 */
import type { ConsumerLabelOptions } from './metrics.ts';

export const OBSERVABILITY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: 'Prometheus metrics details (the admin listener serves /metrics) and OpenTelemetry tracing',
  properties: {
    metrics: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        consumers: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description:
            'the `consumer` label of rampart_consumer_requests_total and rampart_consumer_request_duration_seconds. ' +
            'API-key and mTLS consumers and OAuth clients are labelled with their name or client id; users with the first ' +
            'of `claims` (the OAuth client they came through); anything else, or any value with an "@" or outside ' +
            '[A-Za-z0-9._:/-], with the keyed pseudonym (p:…) the audit chain and the logs use, never in clear; no ' +
            'principal is `anonymous`. The first `max` distinct values get their own series, later ones are `other`',
          properties: {
            max: { type: 'integer', minimum: 0, maximum: 10_000, default: 100, description: 'distinct consumer values with their own series (0: every principal is `other`)' },
            claims: {
              type: 'array',
              maxItems: 8,
              items: { type: 'string', minLength: 1, maxLength: 64 },
              default: ['azp', 'client_id'],
              description: 'token claims naming the client application of a user principal, tried in order',
            },
          },
        },
      },
    },
    tracing: {
      type: 'object',
      additionalProperties: false,
      required: ['exporter', 'endpoint'],
      description:
        'OpenTelemetry spans (one server span per request, one per pipeline phase, one client span per upstream attempt), ' +
        'exported over OTLP/HTTP (JSON). An incoming W3C traceparent that is valid is continued; an invalid or repeated ' +
        'one starts a new trace. Absent: no span and no OpenTelemetry code loaded; the client\'s traceparent reaches the upstream unchanged. ' +
        'Changes take effect at the next restart',
      properties: {
        exporter: { enum: ['otlp-http'], description: 'OTLP over HTTP with JSON bodies' },
        endpoint: {
          type: 'string',
          pattern: '^https?://[^\\s]+$',
          maxLength: 2048,
          description:
            'the collector\'s OTLP/HTTP traces URL, e.g. http://127.0.0.1:4318/v1/traces (a URL without a path gets /v1/traces). ' +
            'Spans carry request paths: plain http to a host other than loopback must be acknowledged in production (rule tracing-plain-http)',
        },
        headers: {
          type: 'object',
          maxProperties: 16,
          propertyNames: { pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]{1,64}$' },
          additionalProperties: { type: 'string', maxLength: 4096 },
          default: {},
          description: 'request headers for the collector, e.g. { authorization: "${env:OTLP_TOKEN}" }',
        },
        serviceName: { type: 'string', minLength: 1, maxLength: 128, default: 'rampart', description: 'the service.name resource attribute' },
        sampleRatio: {
          type: 'number',
          minimum: 0,
          maximum: 1,
          default: 1,
          description: 'share of traces recorded, decided by the gateway on the trace id (a client\'s sampled flag is not obeyed)',
        },
        propagateUpstream: {
          type: 'boolean',
          default: true,
          description:
            'send the upstream a traceparent naming the gateway\'s upstream span (and the incoming tracestate); false: the client\'s traceparent and tracestate pass unchanged',
        },
      },
    },
  },
} as const;

/** The consumer-label settings of a validated config document (defaults filled in by the schema). */
export function consumerLabelOptionsOf(document: Readonly<Record<string, unknown>>): Omit<ConsumerLabelOptions, 'pseudonym'> {
  const observability = document['observability'] as { metrics?: { consumers?: { max?: number; claims?: string[] } } } | undefined;
  const consumers = observability?.metrics?.consumers;
  return { max: consumers?.max ?? 100, claims: consumers?.claims ?? ['azp', 'client_id'] };
}
