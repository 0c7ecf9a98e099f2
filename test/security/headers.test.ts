// Requests Node's HTTP parser refuses before Fastify sees them (issue [9], must-fix 5): headers over
// 16 KB got Node's/Fastify's own 431 body. Now they get a 431 in the envelope of the face the
// request line's URL belongs to (OpenAI's when it cannot be read), as a complete HTTP/1.1 response
// with a JSON content type; a malformed request gets a clean 400 the same way. Sent over raw sockets
// (node:net): no HTTP client would send these.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { startServer, type TestServer } from '../helpers/server.ts';
import { testDialects } from '../helpers/db.ts';
import { MAX_HEADER_BYTES } from '../../src/faces/client-errors.ts';
import { assertNoStackTrace, FACES, makeTenant, type KeyFaceName, type Tenant } from './matrix.ts';

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  text: string;
  json: any;
}

/** Writes `chunks` to a fresh connection (one write each, `gapMs` apart) and reads the answer to the end. */
async function rawRequest(s: TestServer, chunks: string[], gapMs = 0): Promise<RawAnswer> {
  const { port } = new URL(s.url);
  const data = await new Promise<Buffer>((resolve, reject) => {
    const got: Buffer[] = [];
    const sock = net.connect(Number(port), '127.0.0.1', async () => {
      for (const c of chunks) {
        if (sock.destroyed) break;
        sock.write(c);
        if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
      }
    });
    sock.on('data', (d) => got.push(d));
    sock.on('close', () => resolve(Buffer.concat(got)));
    // the server may close while the client still writes: what it answered is what counts
    sock.on('error', (e) => (got.length ? resolve(Buffer.concat(got)) : reject(e)));
  });
  const text = data.toString('utf8');
  const end = text.indexOf('\r\n\r\n');
  assert.ok(end > 0, `a complete HTTP response: ${JSON.stringify(text.slice(0, 300))}`);
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const m = /^HTTP\/1\.1 (\d{3}) \S/.exec(statusLine!);
  assert.ok(m, `an HTTP/1.1 status line: ${statusLine}`);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const body = text.slice(end + 4);
  assert.equal(Number(headers['content-length']), Buffer.byteLength(body), 'Content-Length is the body');
  return { status: Number(m[1]), headers, text: body, json: JSON.parse(body) };
}

const bigHeaders = (bytes: number) => `X-Padding: ${'a'.repeat(bytes)}\r\n`;

for (const dialect of await testDialects()) {
  describe(`oversized headers and malformed requests (${dialect})`, () => {
    let s: TestServer;
    let T: Tenant;

    before(async () => {
      s = await startServer(dialect, { rootKey: randomBytes(32).toString('hex') });
      T = await makeTenant(s.rt.core, s.rt.store, 'hdr');
    });
    after(() => s?.close());

    const urls = (): Array<[KeyFaceName, string]> => [
      ['openai', '/v1/organization/projects'],
      ['gateway', '/v1/chat/completions'],
      ['gateway', '/v1/messages'],
      ['h2ogpte', '/api/v1/admin/api-keys'],
      ['whylabs', `/v0/organizations/${T.orgId}/api-key?user_id=${T.ownerId}`],
      ['iblai', `/api/ai-account/orgs/${T.slug}/credential/`],
      ['platform', '/platform/v1/organizations'],
      ['openai', '/no/such/face'],
    ];

    test('20 KB of headers: a 431 in the envelope of the face the URL belongs to', async () => {
      for (const [face, url] of urls()) {
        for (const method of ['GET', 'POST']) {
          const res = await rawRequest(s, [`${method} ${url} HTTP/1.1\r\nHost: 127.0.0.1\r\n${bigHeaders(20 * 1024)}\r\n`]);
          const what = `${method} ${url} → ${res.status} ${res.text}`;
          assert.equal(res.status, 431, what);
          assert.match(res.headers['content-type'] ?? '', /^application\/json/, what);
          assert.equal(res.headers.connection, 'close', what);
          FACES[face].envelope(431, res.json, `${url} ${res.text}`);
          assert.match(res.text, /headers are too large/, what);
          assertNoStackTrace(res.text, what);
          if (url === '/v1/messages') assert.equal(res.json.type, 'error', what);
        }
      }
    });

    test('headers just under the limit are served as usual', async () => {
      const res = await rawRequest(s, [`GET /v1/organization/projects?limit=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${T.keys.admin}\r\nConnection: close\r\n${bigHeaders(MAX_HEADER_BYTES - 1024)}\r\n`]);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.object, 'list');
    });

    test('headers arriving over several packets: still a 431 (in the OpenAI envelope when the request line is gone)', async () => {
      const chunks = [`GET /api/v1/admin/api-keys HTTP/1.1\r\nHost: 127.0.0.1\r\n`, ...Array.from({ length: 24 }, (_, i) => `X-Pad-${i}: ${'b'.repeat(1000)}\r\n`), '\r\n'];
      const res = await rawRequest(s, chunks, 5);
      assert.equal(res.status, 431, res.text);
      assert.ok('error' in res.json || 'code' in res.json, `an OpenAI or h2oGPTe envelope: ${res.text}`);
      assertNoStackTrace(res.text, res.text);
    });

    test('a malformed request: a clean 400 in the envelope of its URL, or OpenAI\'s', async () => {
      const cases: Array<[KeyFaceName, string]> = [
        ['openai', 'GARBAGE\r\n\r\n'],
        ['openai', 'GET /v1/organization/projects HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n'],
        ['h2ogpte', 'GET /api/v1/admin/api-keys HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n'],
        ['iblai', `POST /api/ai-account/orgs/${T.slug}/credential/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello`],
        ['whylabs', `GET /v0/organizations/${T.orgId}/api-key HTTP/1.1\r\nHost: x\r\nX-Bad: a\u0001b\r\n\r\n`],
        ['platform', 'GET /platform/v1/organizations HTTP/9.9\r\nHost: x\r\n\r\n'],
      ];
      for (const [face, req] of cases) {
        const res = await rawRequest(s, [req]);
        const what = `${JSON.stringify(req.slice(0, 60))} → ${res.status} ${res.text}`;
        assert.equal(res.status, 400, what);
        assert.match(res.headers['content-type'] ?? '', /^application\/json/, what);
        FACES[face].envelope(400, res.json, what);
        assertNoStackTrace(res.text, what);
      }
    });
  });
}
