#!/usr/bin/env node
// node web/e2e/history.mjs --base http://127.0.0.1:3000 --session <id> --secret <secret> --client <clientId> --dj <djId> --shots <dir> [--timeout 20000]
//
// The history pages in a real browser at phone size (issue 4, must-show #6):
//   1. /recap/<id>: the night's list; the most liked row is highlighted; no
//      DJ view. Saves recap.png (the whole page).
//   2. /recap/<id>#k=<secret>: the DJ view with the polls; the secret has
//      left the address bar; "Download CSV" downloads a .csv. Saves
//      recap-dj.png.
//   3. /me as the browser whose localStorage pika.clientId is --client: its
//      likes grouped by night. Saves me.png. Then "Delete my journal",
//      confirmed: the journal is empty. Saves me-deleted.png.
//   4. /dj/<djId>: the profile with its nights. Saves dj-profile.png.
// Prints OK. On failure: the step, the reason and the pages' console
// errors on stderr, exit 1.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch, phone, parseArgs, runner } from './browser.mjs';

const args = parseArgs(process.argv.slice(2));
const base = String(args.base || '').replace(/\/+$/, '');
const { session: sid, secret, client, dj, shots } = args;
const timeout = Number(args.timeout || 20000);
if (!base || !sid || !secret || !client || !dj || !shots || !Number.isFinite(timeout) || timeout <= 0) {
  process.stderr.write('usage: node history.mjs --base <url> --session <id> --secret <secret> --client <clientId> --dj <djId> --shots <dir> [--timeout 20000]\n');
  process.exit(1);
}

const run = runner('history.mjs', 6 * timeout + 20000);
const { fail, watch } = run;

/** @param {boolean} ok @param {string} why */
function expect(ok, why) {
  if (!ok) throw new Error(why);
}

try {
  mkdirSync(shots, { recursive: true });
  run.browser = await launch();
  const ctx = await phone(run.browser);
  // The dancer page made this id; /me reads it.
  await ctx.addInitScript((id) => localStorage.setItem('pika.clientId', id), String(client));

  run.step = 'public recap';
  const page = watch(await ctx.newPage(), 'recap');
  await page.goto(base + '/recap/' + sid);
  await page.waitForSelector('body[data-view="public"]', { timeout });
  const rows = await page.locator('[data-testid="recap-row"]').count();
  expect(rows > 0, 'no rows in the recap');
  expect(await page.locator('.rc-best').count() === 1, 'no highlighted most-liked row');
  expect(!(await page.locator('[data-testid="recap-dj-view"]').isVisible()), 'the public recap shows the DJ view');
  expect((await page.locator('[data-testid="recap-tracks"]').textContent()) === String(rows), 'the track count does not match the rows');
  await page.screenshot({ path: join(shots, 'recap.png'), fullPage: true });

  run.step = 'DJ recap';
  const djPage = watch(await ctx.newPage(), 'recap-dj');
  await djPage.goto(base + '/recap/' + sid + '#k=' + encodeURIComponent(secret));
  await djPage.waitForSelector('body[data-view="owner"]', { timeout });
  expect(!djPage.url().includes(secret), 'the secret is still in the address bar: ' + djPage.url());
  expect(await djPage.locator('[data-testid="recap-poll"]').count() > 0, 'no poll in the DJ view');
  const [download] = await Promise.all([djPage.waitForEvent('download', { timeout }), djPage.click('[data-testid="recap-csv"]')]);
  const name = download.suggestedFilename();
  expect(name.endsWith('.csv'), 'the download is ' + name);
  const file = await download.path();
  const csv = file ? readFileSync(file, 'utf8') : '';
  expect(csv.startsWith('position,played_at,artist,title,bpm,key,likes,slower,perfect,faster,hidden'), 'the CSV starts with ' + csv.slice(0, 80));
  await djPage.screenshot({ path: join(shots, 'recap-dj.png'), fullPage: true });

  run.step = 'journal';
  const me = watch(await ctx.newPage(), 'me');
  await me.goto(base + '/me');
  await me.waitForSelector('body[data-view="list"]', { timeout });
  const nights = await me.locator('[data-testid="journal-night"]').count();
  expect(nights >= 2, 'the journal shows ' + nights + ' nights, want 2 or more');
  await me.screenshot({ path: join(shots, 'me.png'), fullPage: true });
  await me.click('[data-testid="journal-delete"]');
  await me.waitForSelector('#confirm[open]', { timeout });
  await me.screenshot({ path: join(shots, 'me-confirm.png') });
  await me.click('[data-testid="journal-delete-confirm"]');
  await me.waitForSelector('body[data-view="empty"]', { timeout });
  await me.reload();
  await me.waitForSelector('body[data-view="empty"]', { timeout });
  expect(await me.locator('[data-testid="journal-night"]').count() === 0, 'likes are back after a reload');
  await me.screenshot({ path: join(shots, 'me-deleted.png'), fullPage: true });

  run.step = 'DJ profile';
  const prof = watch(await ctx.newPage(), 'profile');
  await prof.goto(base + '/dj/' + dj);
  await prof.waitForSelector('body[data-view="profile"]', { timeout });
  expect(await prof.locator('[data-testid="profile-session"]').count() >= 2, 'the profile lists fewer than 2 nights');
  await prof.screenshot({ path: join(shots, 'dj-profile.png'), fullPage: true });

  run.step = 'lobby';
  const lobby = watch(await ctx.newPage(), 'lobby');
  await lobby.goto(base + '/');
  await lobby.waitForSelector('[data-testid="lobby-my-likes"]', { timeout });
  await lobby.screenshot({ path: join(shots, 'lobby.png') });

  const real = run.errors.filter((e) => !/status of 40[34]/.test(e));
  expect(real.length === 0, 'console errors');
  await run.browser.close();
  process.stdout.write('OK\n');
  process.exit(0);
} catch (e) {
  await fail(e instanceof Error ? e.message : String(e));
}
