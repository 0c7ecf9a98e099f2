// The h2oGPTe wire conventions: the `EndpointError` body {code, message} (code = the HTTP status,
// INFERRED) and RFC 3339 UTC times.
import type { FastifyReply } from 'fastify';
import { classifyError } from '../common.ts';

export interface EndpointError {
  code: number;
  message: string;
}

export function h2ogpteError(err: unknown): { status: number; body: EndpointError } {
  const c = classifyError(err);
  return { status: c.status, body: { code: c.status, message: c.message } };
}

export function sendH2ogpteError(reply: FastifyReply, err: unknown): FastifyReply {
  const { status, body } = h2ogpteError(err);
  return reply.code(status).type('application/json').send(body);
}

/** Epoch milliseconds as RFC 3339 in UTC, e.g. `2025-01-02T03:04:05.123Z`. */
export const toRfc3339 = (ms: number): string => new Date(ms).toISOString();
