// Headless Chromium for the console's end-to-end tests: Debian's `chromium` (/usr/bin/chromium, which
// .ci/run installs when missing) driven by playwright-core, with a fresh profile per launch and the
// flags this closed network needs (no QUIC, no background fetches, no component updates, no sync).
// Screenshots go to test-artifacts/screenshots/<name>.png (gitignored).
import { mkdirSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.KEYPLANE_TEST_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = resolve('test-artifacts', 'screenshots');

export interface TestBrowser {
  browser: Browser;
  /** A new page in a fresh context (its own cookies) of the given width. */
  newPage(width?: number, height?: number): Promise<Page>;
  close(): Promise<void>;
}

export function chromiumPresent(): boolean {
  return existsSync(CHROMIUM);
}

export async function launchBrowser(): Promise<TestBrowser> {
  if (!chromiumPresent()) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does)`);
  // a fresh profile per launch: playwright-core gives Chromium a new temporary --user-data-dir (it
  // refuses one in args) and removes it when the browser closes
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const contexts: BrowserContext[] = [];
  return {
    browser,
    async newPage(width = 1280, height = 800) {
      const context = await browser.newContext({ viewport: { width, height }, deviceScaleFactor: 1 });
      contexts.push(context);
      return context.newPage();
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => {});
      await browser.close();
    },
  };
}

/** Saves a full-page screenshot as test-artifacts/screenshots/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name.replace(/[^a-z0-9._-]+/gi, '-')}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Console messages and page errors of a page (CSP violations show up here), for asserting none happened. */
export function collectProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  return problems;
}
