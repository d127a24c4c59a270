#!/usr/bin/env node
// node web/e2e/dancer.mjs --url <dancer page URL> --expect "<title>" --screenshot <png> [--timeout 20000]
//
// Opens the dancer page on a phone-size Chromium, waits until it is live
// (subscribed, snapshot applied), prints READY, then waits until the
// now-playing title reads --expect, saves a screenshot and prints OK.
// On failure: the reason and the page's console errors on stderr, exit 1.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { launch, phone, parseArgs } from './browser.mjs';

const args = parseArgs(process.argv.slice(2));
const url = args.url;
const expect = args.expect;
const shot = args.screenshot;
const timeout = Number(args.timeout || 20000);

/** @type {string[]} */
const consoleErrors = [];
/** @type {import('playwright-core').Browser | undefined} */
let browser;

async function fail(reason) {
  process.stderr.write('dancer.mjs: ' + reason + '\n');
  for (const e of consoleErrors) process.stderr.write('  console: ' + e + '\n');
  try {
    await browser?.close();
  } catch {
    /* ignore */
  }
  process.exit(1);
}

if (!url || expect === undefined || !shot || !Number.isFinite(timeout) || timeout <= 0) {
  process.stderr.write('usage: node dancer.mjs --url <url> --expect "<title>" --screenshot <png> [--timeout 20000]\n');
  process.exit(1);
}

// Never hang a test run: whatever happens, give up well after the waits would.
const guard = setTimeout(() => fail('gave up after ' + 3 * timeout + ' ms'), 3 * timeout + 15000);
guard.unref();

try {
  browser = await launch();
  const context = await phone(browser);
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push('uncaught: ' + e.message));

  const res = await page.goto(url, { waitUntil: 'domcontentloaded', timeout });
  if (!res || !res.ok()) await fail('GET ' + url + ': ' + (res ? 'HTTP ' + res.status() : 'no response'));

  try {
    await page.waitForSelector('body[data-conn="live"]', { state: 'attached', timeout });
  } catch {
    const conn = await page.evaluate(() => document.body.dataset.conn + '/' + document.body.dataset.view).catch(() => '?');
    await fail('the page did not become live within ' + timeout + ' ms (data-conn/view: ' + conn + ')');
  }
  process.stdout.write('READY\n');

  try {
    await page.waitForFunction(
      (want) => {
        const el = document.querySelector('[data-testid="now-title"]');
        return !!el && el.textContent === want;
      },
      expect,
      { timeout, polling: 100 },
    );
  } catch {
    const got = await page.evaluate(() => document.querySelector('[data-testid="now-title"]')?.textContent ?? null).catch(() => null);
    await fail('now playing did not become ' + JSON.stringify(expect) + ' within ' + timeout + ' ms (it shows ' + JSON.stringify(got) + ')');
  }

  mkdirSync(dirname(shot), { recursive: true });
  await page.screenshot({ path: shot, fullPage: false });
  process.stdout.write('OK\n');
  await browser.close();
  process.exit(0);
} catch (e) {
  await fail(e instanceof Error ? e.message : String(e));
}
