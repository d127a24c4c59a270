#!/usr/bin/env node
// node web/e2e/crowd.mjs --base http://127.0.0.1:3000 --session <id> --secret <secret> --shots <dir> [--timeout 20000]
//
// The crowd round trip in a real browser (issue 3, must-show #6): two phones
// on /s/<id> and the DJ console (1280×800) on /dj#s=<id>&k=<secret>. Prints
// READY once all three are live, then:
//   1. phone 1 likes the current track; the console shows that play's likes ≥ 1;
//   2. the console starts the "Tempo check" poll; both phones show it;
//   3. phone 1 votes option 0, phone 2 option 2; the console and both phones
//      show 1 / 0 / 1;
// The console shows the laptop's source status line (the dancer pages never
// do). Saves phone1.png, phone2.png, console.png and console-phone.png
// (the console at 390×844) into --shots and prints OK.
// On failure: the reason and every page's console errors on stderr, exit 1.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { launch, phone, parseArgs, runner } from './browser.mjs';

const args = parseArgs(process.argv.slice(2));
const base = String(args.base || '').replace(/\/+$/, '');
const sid = args.session;
const secret = args.secret;
const shots = args.shots;
const timeout = Number(args.timeout || 20000);
if (!base || !sid || !secret || !shots || !Number.isFinite(timeout) || timeout <= 0) {
  process.stderr.write('usage: node crowd.mjs --base <http://host:port> --session <id> --secret <secret> --shots <dir> [--timeout 20000]\n');
  process.exit(1);
}

const run = runner('crowd.mjs', 6 * timeout + 20000);
const { fail, watch } = run;

/**
 * Waits for fn(arg) to be true in the page; on timeout fails with what
 * describe(arg) returns there.
 * @template A
 * @param {import('playwright-core').Page} page
 * @param {string} name
 * @param {(arg: A) => boolean} fn
 * @param {A} arg
 * @param {(arg: A) => string} describe
 */
async function until(page, name, fn, arg, describe) {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 100 });
  } catch {
    const got = await page.evaluate(describe, arg).catch((e) => 'page gone: ' + e);
    await fail(name + ' did not get there within ' + timeout + ' ms (it shows ' + got + ')');
  }
}

try {
  run.browser = await launch();
  const p1 = watch(await (await phone(run.browser)).newPage(), 'phone1');
  const p2 = watch(await (await phone(run.browser)).newPage(), 'phone2');
  const dj = watch(
    await (await run.browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1, colorScheme: 'dark' })).newPage(),
    'console',
  );

  run.step = 'open';
  const dancerURL = base + '/s/' + encodeURIComponent(sid);
  const consoleURL = base + '/dj#s=' + encodeURIComponent(sid) + '&k=' + encodeURIComponent(secret);
  for (const [page, url] of /** @type {const} */ ([[p1, dancerURL], [p2, dancerURL], [dj, consoleURL]])) {
    const res = await page.goto(url, { waitUntil: 'domcontentloaded', timeout });
    if (!res || !res.ok()) await fail('GET ' + url.split('#')[0] + ': ' + (res ? 'HTTP ' + res.status() : 'no response'));
  }
  for (const [page, name] of /** @type {const} */ ([[p1, 'phone 1'], [p2, 'phone 2'], [dj, 'the console']])) {
    await until(page, name, () => document.body.dataset.conn === 'live', null, () => 'data-conn=' + document.body.dataset.conn + ', data-view=' + document.body.dataset.view);
  }
  process.stdout.write('READY\n');

  run.step = 'source status';
  // The laptop's detector status reaches the console (and only the console)
  // as soon as it opens: which program, and the last track it saw.
  await until(dj, 'the console', () => {
    const el = document.querySelector('[data-testid="console-source"]');
    return !!el && !el.hidden && el.getAttribute('data-state') === 'reading' && /Following .*Slow Burn Sunday/.test(el.textContent || '');
  }, null, () => {
    const el = document.querySelector('[data-testid="console-source"]');
    return el ? 'hidden=' + el.hidden + ' state=' + el.getAttribute('data-state') + ' text=' + el.textContent : 'no source line';
  });
  if (await p1.isVisible('[data-testid="console-source"]')) await fail('a dancer page shows the DJ source status');

  run.step = 'like';
  await until(p1, 'phone 1', () => document.body.dataset.view === 'playing', null, () => 'data-view=' + document.body.dataset.view + ' (nothing playing?)');
  const playId = await p1.evaluate(() => {
    const b = /** @type {HTMLElement} */ (document.querySelector('[data-testid="like-now"]'));
    if (b.getAttribute('aria-pressed') !== 'true') b.click();
    return b.dataset.play || '';
  });
  if (!playId) await fail('phone 1 has no current play to like');
  await until(
    dj,
    'the console',
    (id) => {
      const row = document.querySelector('[data-testid="console-play"][data-play-id="' + id + '"] [data-testid="console-play-likes"]');
      return Number(row?.textContent) >= 1;
    },
    playId,
    (id) => 'likes of play ' + id + ': ' + (document.querySelector('[data-testid="console-play"][data-play-id="' + id + '"] [data-testid="console-play-likes"]')?.textContent ?? 'no such row'),
  );

  run.step = 'poll';
  // A poll left open by an earlier run is ended first.
  if (await dj.isVisible('[data-testid="poll-end"]')) {
    await dj.click('[data-testid="poll-end"]');
    await dj.waitForSelector('[data-testid="poll-start"]', { state: 'visible', timeout });
  }
  await dj.click('[data-testid="poll-preset-tempo"]');
  await dj.selectOption('[data-testid="poll-timer"]', '0'); // no timer: it must not close mid-test
  await dj.click('[data-testid="poll-start"]');
  for (const [page, name] of /** @type {const} */ ([[p1, 'phone 1'], [p2, 'phone 2']])) {
    await until(
      page,
      name + "'s poll card",
      () => {
        const card = /** @type {HTMLElement | null} */ (document.querySelector('[data-testid="poll"]'));
        return !!card && !card.hidden && card.dataset.state === 'open' && document.querySelector('[data-testid="poll-question"]')?.textContent === 'Tempo check' && document.querySelectorAll('[data-testid^="poll-option-"]').length === 3;
      },
      null,
      () => 'poll hidden=' + /** @type {HTMLElement} */ (document.querySelector('[data-testid="poll"]'))?.hidden + ', question=' + document.querySelector('[data-testid="poll-question"]')?.textContent,
    );
  }

  run.step = 'vote';
  await p1.click('[data-testid="poll-option-0"]');
  await p2.click('[data-testid="poll-option-2"]');
  const want = ['1', '0', '1'];
  for (const [page, name, prefix] of /** @type {const} */ ([[dj, 'the console', 'console-poll-count-'], [p1, 'phone 1', 'poll-count-'], [p2, 'phone 2', 'poll-count-']])) {
    await until(
      page,
      name + "'s poll results",
      ([prefix, want]) => [0, 1, 2].every((i) => document.querySelector('[data-testid="' + prefix + i + '"]')?.textContent === want[i]),
      /** @type {[string, string[]]} */ ([prefix, want]),
      ([prefix]) => JSON.stringify([0, 1, 2].map((i) => document.querySelector('[data-testid="' + prefix + i + '"]')?.textContent ?? null)),
    );
  }

  run.step = 'screenshots';
  await Promise.all([p1, p2, dj].map((p) => p.waitForTimeout(800))); // let the bars finish growing
  mkdirSync(shots, { recursive: true });
  await p1.screenshot({ path: join(shots, 'phone1.png') });
  await p2.screenshot({ path: join(shots, 'phone2.png') });
  await dj.screenshot({ path: join(shots, 'console.png') });
  // The console as a DJ holds it in a phone, in a dark booth.
  const djPhone = await (await phone(run.browser)).newPage();
  watch(djPhone, 'console (phone)');
  await djPhone.goto(consoleURL, { waitUntil: 'domcontentloaded', timeout });
  await until(djPhone, 'the console (phone)', () => document.body.dataset.conn === 'live' && !document.querySelector('[data-testid="console-source"]')?.hidden, null,
    () => 'data-conn=' + document.body.dataset.conn);
  await djPhone.waitForTimeout(500);
  await djPhone.screenshot({ path: join(shots, 'console-phone.png') });
  process.stdout.write('OK\n');
  await run.browser.close();
  process.exit(0);
} catch (e) {
  await fail(e instanceof Error ? e.message : String(e));
}
