#!/usr/bin/env node
// node web/e2e/shot.mjs <url> <png> [--width 390 --height 844] [--wait <ms>]
// A phone-size screenshot of any page, taken after the network is idle.
// Pages holding a WebSocket never go fully idle, so the wait is capped.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { launch, phone, parseArgs } from './browser.mjs';

const args = parseArgs(process.argv.slice(2));
const [url, png] = args._;
if (!url || !png) {
  process.stderr.write('usage: node shot.mjs <url> <png> [--width 390 --height 844] [--wait ms]\n');
  process.exit(1);
}
const width = Number(args.width || 390);
const height = Number(args.height || 844);

const browser = await launch();
try {
  const page = await (await phone(browser, width, height)).newPage();
  page.on('pageerror', (e) => process.stderr.write('uncaught: ' + e.message + '\n'));
  page.on('console', (m) => {
    if (m.type() === 'error') process.stderr.write('console: ' + m.text() + '\n');
  });
  await page.goto(url, { waitUntil: 'load', timeout: 20000 });
  await page.waitForLoadState('networkidle', { timeout: 5000 }).catch(() => {});
  if (args.wait) await page.waitForTimeout(Number(args.wait));
  mkdirSync(dirname(png), { recursive: true });
  await page.screenshot({ path: png, fullPage: !!args.full });
  process.stdout.write(png + '\n');
} catch (e) {
  process.stderr.write('shot.mjs: ' + (e instanceof Error ? e.message : String(e)) + '\n');
  process.exitCode = 1;
} finally {
  await browser.close();
}
