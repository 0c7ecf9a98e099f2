// Requests Node's HTTP parser refuses before Fastify sees them: headers over the limit (16 KiB, Node's
// default max header size), a malformed request line or header, a request that timed out. Node (or
// Fastify's default handler) would answer in its own words; here they are answered in the envelope
// of the face whose URL the request line names, as a complete HTTP/1.1 response, then the
// connection is closed. The request line is read from the bytes the parser failed on
// (`err.rawPacket`); when they do not hold it (headers that arrived over several packets) the
// OpenAI envelope answers, as for any URL outside the faces.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FaceTable } from './kit.ts';

/** Node's default limit on the request line and headers together (`--max-http-header-size`). */
export const MAX_HEADER_BYTES = 16 * 1024;

interface ClientError extends Error {
  code?: string;
  rawPacket?: unknown;
}

const REQUEST_LINE = /^([A-Z]{1,20}) (\/[\x21-\x7e]*)/;

/** What a refused request is answered: status and a message safe to show (never the parser's text). */
function refusal(err: ClientError): { status: number; message: string } {
  if (err.code === 'HPE_HEADER_OVERFLOW') return { status: 431, message: `The request's headers are too large: the request line and headers may take at most ${MAX_HEADER_BYTES / 1024} KB.` };
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'ERR_HTTP_REQUEST_HEADERS_TIMEOUT') return { status: 408, message: 'The request was not received in time.' };
  return { status: 400, message: 'The request is not valid HTTP/1.1.' };
}

/** Renders `err` with a face's render() into a plain response (a reply that only records what is sent). */
function renderToText(table: FaceTable, method: string, url: string, status: number, message: string): { status: number; body: string; type: string } {
  const out = { status, body: '', type: 'application/json' };
  const reply = {
    statusCode: status,
    code(s: number) {
      out.status = s;
      this.statusCode = s;
      return this;
    },
    status(s: number) {
      return this.code(s);
    },
    type(t: string) {
      out.type = t;
      return this;
    },
    header() {
      return this;
    },
    send(b: unknown) {
      out.body = typeof b === 'string' ? b : JSON.stringify(b);
      return this;
    },
  };
  const req = { method, url, headers: {}, id: 'unknown', log: { error() {}, warn() {}, info() {} } };
  const err = Object.assign(new Error(message), { statusCode: status, code: `KP_CLIENT_${status}` });
  try {
    table.render(reply as unknown as FastifyReply, err, req as unknown as FastifyRequest);
  } catch {
    out.status = status;
    out.body = JSON.stringify({ error: { message, type: 'invalid_request_error', param: null, code: null } });
  }
  return out;
}

/** Fastify's `clientErrorHandler`: answers a request the HTTP parser refused, in its face's envelope. */
export function answerClientError(table: FaceTable, err: ClientError, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const { status, message } = refusal(err);
  const line = Buffer.isBuffer(err.rawPacket) ? REQUEST_LINE.exec(err.rawPacket.subarray(0, 2048).toString('latin1')) : null;
  const url = line?.[2] ?? '/';
  const out = renderToText(table, line?.[1] ?? 'GET', url, status, message);
  // as Node does: nothing is written over an answer already started on this connection
  const started = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
  if (socket.writable && !started) {
    const body = Buffer.from(out.body, 'utf8');
    socket.write(
      `HTTP/1.1 ${out.status} ${STATUS_CODES[out.status] ?? 'Error'}\r\nContent-Type: ${out.type}; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
    );
    socket.write(body);
  }
  socket.destroy();
}
