// The console's page and assets (src/faces/console-static.ts), over HTTP against a real server on
// SQLite and PostgreSQL, no browser: /console is the built index.html with a strict CSP, no framing
// and no referrer, never cached; assets come with their content types and a long cache; nothing
// outside dist/console/assets is reachable; the page and its bundle name no external URL (no CDN);
// a checkout whose console was never built answers /console with a 503 page saying what to run.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import { startServer, type TestServer } from '../helpers/server.ts';
import { testDialects, tmpDir } from '../helpers/db.ts';
import { readResponse } from '../helpers/http.ts';
import { consoleDir, consoleRoutes } from '../../src/faces/console-static.ts';

const get = async (base: string, path: string) => readResponse(await fetch(`${base}${path}`, { redirect: 'manual' }));

const dir = consoleDir();
const built = existsSync(join(dir, 'index.html'));

/** Absolute URLs that would make the browser fetch something from elsewhere (XML namespace names are identifiers, not fetched). */
function externalUrls(text: string): string[] {
  const found = text.match(/\b(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s"'`)<>]*/gi) ?? [];
  return found.filter((u) => !/^https?:\/\/www\.w3\.org\//.test(u));
}

function assertSecurityHeaders(res: { headers: Headers }, what: string): void {
  const csp = res.headers.get('content-security-policy') ?? '';
  assert.match(csp, /(^|; )default-src 'self'(;|$)/, `${what}: CSP default-src 'self': ${csp}`);
  assert.match(csp, /(^|; )script-src 'self'(;|$)/, `${what}: scripts from this server only: ${csp}`);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/, `${what}: nothing loose in the CSP: ${csp}`);
  assert.match(csp, /frame-ancestors 'none'/, what);
  assert.equal(res.headers.get('x-frame-options'), 'DENY', what);
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer', what);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff', what);
}

test('the console is built (npm ci / npm run build writes dist/console)', () => {
  assert.ok(built, `${dir}index.html is missing: run npm run build`);
});

for (const dialect of await testDialects()) {
  describe(`console page and assets (${dialect})`, { skip: !built && 'the console is not built' }, () => {
    let s: TestServer;
    before(async () => {
      s = await startServer(dialect);
    });
    after(() => s.close());

    test('/console is index.html with the security headers, never cached, with no inline script or style', async () => {
      for (const path of ['/console', '/console/']) {
        const res = await get(s.url, path);
        assert.equal(res.status, 200, path);
        assert.match(res.headers.get('content-type') ?? '', /^text\/html; charset=utf-8/, path);
        assert.equal(res.headers.get('cache-control'), 'no-cache', path);
        assertSecurityHeaders(res, path);
        assert.match(res.text, /<div id="app"><\/div>/);
        assert.equal(res.text, readFileSync(join(dir, 'index.html'), 'utf8'));
        // every script is a file under /console/assets/ (the CSP refuses inline ones anyway)
        const scripts = [...res.text.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
        assert.ok(scripts.length >= 1, 'the page loads its bundle');
        for (const [, attrs, body] of scripts) {
          assert.match(attrs!, /src="\/console\/assets\/[^"]+\.js"/, `script ${attrs}`);
          assert.equal(body!.trim(), '', 'no inline script');
        }
        assert.doesNotMatch(res.text, /<style\b|\sstyle=|\son[a-z]+=/i, 'no inline style or event handler');
      }
    });

    test('every asset the page names is served with its content type and a long cache', async () => {
      const page = (await get(s.url, '/console')).text;
      const refs = [...page.matchAll(/(?:src|href)="(\/console\/assets\/[^"]+)"/g)].map((m) => m[1]!);
      assert.ok(refs.some((r) => r.endsWith('.js')), `a script: ${refs}`);
      assert.ok(refs.some((r) => r.endsWith('.css')), `a stylesheet: ${refs}`);
      for (const ref of refs) {
        const res = await get(s.url, ref);
        assert.equal(res.status, 200, ref);
        const type = ref.endsWith('.js') ? /^text\/javascript; charset=utf-8/ : /^text\/css; charset=utf-8/;
        assert.match(res.headers.get('content-type') ?? '', type, ref);
        assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable', ref);
        assertSecurityHeaders(res, ref);
        assert.equal(res.text, readFileSync(join(dir, ref.slice('/console/'.length)), 'utf8'), ref);
      }
    });

    test('the page and its bundle name no external URL (no CDN)', async () => {
      const page = (await get(s.url, '/console')).text;
      assert.deepEqual(externalUrls(page), [], 'index.html');
      const names = readdirSync(join(dir, 'assets'));
      assert.ok(names.length >= 2);
      for (const name of names) {
        const res = await get(s.url, `/console/assets/${name}`);
        assert.equal(res.status, 200, name);
        assert.deepEqual(externalUrls(res.text), [], name);
      }
    });

    test("the console's stylesheet closes every block it opens (a lost brace silently drops every rule after it)", () => {
      // the source, which pages append to: strings and comments hold no braces here
      const css = readFileSync(join(import.meta.dirname, '../../console/src/style.css'), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
      let depth = 0;
      css.split('\n').forEach((line, i) => {
        for (const c of line) {
          if (c === '{') depth++;
          if (c === '}') depth--;
          assert.ok(depth >= 0, `line ${i + 1}: a } with no block open`);
          // only @media nests here: a rule opened inside a rule means one was not closed
          assert.ok(depth <= 2, `line ${i + 1}: blocks nested ${depth} deep (an unclosed @media or rule above)`);
        }
        if (depth === 2 && /^\S/.test(line) && !line.startsWith('}')) assert.fail(`line ${i + 1}: a top-level rule inside an unclosed block: ${line}`);
      });
      assert.equal(depth, 0, 'every block is closed');
    });

    test('nothing outside dist/console/assets is reachable', async () => {
      const secretish = readFileSync('package.json', 'utf8').slice(0, 40);
      for (const path of [
        '/console/assets/..%2findex.html',
        '/console/assets/..%2f..%2fkeyplane.mjs',
        '/console/assets/..%2f..%2f..%2fpackage.json',
        '/console/assets/%2e%2e%2f%2e%2e%2f%2e%2e%2fpackage.json',
        '/console/assets/..%5c..%5c..%5cpackage.json',
        '/console/assets/%2fetc%2fpasswd',
        '/console/assets/.',
        '/console/assets/nope.js',
        '/console/assets/index.html',
        '/console/assets/a%00.js',
        '/console/index.html',
        '/console/../package.json',
        '/console/%2e%2e/package.json',
      ]) {
        const res = await get(s.url, path);
        assert.ok(res.status === 404 || res.status === 400, `${path} → ${res.status} ${res.text.slice(0, 200)}`);
        assert.ok(!res.text.includes(secretish), `${path}: no file from outside`);
        assert.doesNotMatch(res.text, /root:x:0:0|at .*\(.*:\d+:\d+\)/, `${path}: no system file, no stack trace`);
      }
    });
  });
}

describe('a gateway-only node', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer('sqlite', { role: 'gateway' });
  });
  after(() => s.close());

  test('serves no console (it has no admin API for the page to talk to)', async () => {
    assert.equal((await get(s.url, '/console')).status, 404);
    assert.ok(!s.app.routeList.some((r) => r.url.startsWith('/console')));
  });
});

describe('a console never built', () => {
  let base: string;
  const app = Fastify({ logger: false });
  before(async () => {
    await app.register(async (ui) => consoleRoutes(ui, { dir: join(tmpDir('kp-console'), 'console') }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const addr = app.server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  });
  after(() => app.close());

  test('/console answers 503 with a page saying to run npm run build; assets 404', async () => {
    const res = await get(base, '/console');
    assert.equal(res.status, 503);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(res.text, /npm run build/);
    assertSecurityHeaders(res, '/console (not built)');
    assert.equal((await get(base, '/console/assets/index.js')).status, 404);
  });
});
