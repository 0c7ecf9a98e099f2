// The access log: one structured line per request, written when its connection is done with it through
// the server's logger (an asynchronous destination in `keyplane serve`). It names the route template,
// never the URL (a query string or a path segment may carry a secret), and ids only: the request id,
// the organization, the key id. Successful answers may be sampled (KEYPLANE_ACCESS_LOG_SAMPLE); every
// 4xx and 5xx is written.
import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';

export interface AccessLogOptions {
  /** Fraction (0..1) of answers below 400 written. */
  sample: number;
}

/** The fields of one access log line. */
export interface AccessLogLine {
  reqId: string;
  method: string;
  /** The route's URL template (`/v1/organization/projects/:project_id`), or `unmatched`. */
  route: string;
  status: number;
  /** Milliseconds from the request to the end of its answer. */
  ms: number;
  /** The organization the request acted in, when one was resolved. */
  org?: string;
  /** The id of the API key that authenticated it (`root` for the operator's root key). */
  key?: string;
  /** The client went away before the answer was fully written. */
  aborted?: true;
}

/**
 * The status a request ended with: the one sent, or 499 (nginx's "client closed request") when the
 * client went away before any answer started.
 */
export const finalStatus = (reply: FastifyReply): number => (reply.raw.headersSent ? reply.statusCode : 499);

/** Writes the access log line of a finished request to `log` (at info level); call once its connection closed. */
export function accessLogger(log: FastifyBaseLogger, opts: AccessLogOptions): (req: FastifyRequest, reply: FastifyReply) => void {
  const sample = opts.sample;
  return (req, reply) => {
    const status = finalStatus(reply);
    if (status < 400 && sample < 1 && !(sample > 0 && Math.random() < sample)) return;
    const line: AccessLogLine = {
      reqId: String(req.id),
      method: req.method,
      route: req.routeOptions.url ?? 'unmatched',
      status,
      ms: Math.round(reply.elapsedTime * 100) / 100,
    };
    const org = req.org?.id;
    if (org) line.org = org;
    const actor = req.actor;
    if (actor) {
      if (actor.type === 'key') line.key = actor.key.keyId;
      else if (actor.type === 'root') line.key = 'root';
    }
    // the client closed the connection before the whole answer was written (a stream cut short)
    if (!reply.raw.writableFinished) line.aborted = true;
    log.info(line, 'request');
  };
}

/** An incoming `x-request-id` worth keeping: 1–128 characters of letters, digits and `. _ : -`. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Fastify's own per-request lines, replaced: theirs carry the full URL (query values included). At
 * debug level a request's arrival is logged (its method and route template, never the URL); its end
 * is the access log's line.
 */
export class RequestLogLines extends LogController {
  constructor() {
    super({ disableRequestLogging: true });
  }

  override incomingRequest(request: FastifyRequest): void {
    const level = request.log.level;
    if (level === 'debug' || level === 'trace') request.log.debug({ method: request.method, route: request.routeOptions.url ?? 'unmatched' }, 'incoming request');
  }

  override requestCompleted(): void {}
}
