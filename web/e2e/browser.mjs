// Shared by the e2e scripts: find Debian's Chromium and launch it through
// playwright-core. Browsers are never downloaded.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { chromium } from 'playwright-core';

/** The Chromium to drive: $CHROMIUM, else the first one found on PATH. */
export function findChromium() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  for (const dir of (process.env.PATH || '').split(delimiter)) {
    for (const name of ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']) {
      const p = join(dir, name);
      try {
        accessSync(p, constants.X_OK);
        return p;
      } catch {
        /* next */
      }
    }
  }
  throw new Error('no Chromium found: install it (apt-get install chromium) or set $CHROMIUM');
}

export async function launch() {
  return chromium.launch({
    executablePath: findChromium(),
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}

/**
 * A phone-size browser context.
 * @param {import('playwright-core').Browser} browser
 * @param {number} [width]
 * @param {number} [height]
 */
export function phone(browser, width = 390, height = 844) {
  return browser.newContext({
    viewport: { width, height },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    colorScheme: 'dark',
  });
}

/**
 * Parses --name value pairs; bare words go to _.
 * @param {string[]} argv
 */
export function parseArgs(argv) {
  /** @type {{_: string[], [k: string]: any}} */
  const out = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1);
      else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) out[a.slice(2)] = argv[++i];
      else out[a.slice(2)] = true;
    } else out._.push(a);
  }
  return out;
}

/**
 * The shared frame of a browser check: the browser it launched, the step it
 * is at, the pages' console errors, fail (reason, errors, close, exit 1),
 * watch (collect a page's errors), and a guard that fails the whole check
 * after budgetMs.
 * @param {string} name  the script's name, for messages
 * @param {number} budgetMs
 */
export function runner(name, budgetMs) {
  const run = {
    /** @type {import('playwright-core').Browser | undefined} */
    browser: undefined,
    step: 'starting',
    /** @type {string[]} */
    errors: [],
    /** @param {string} reason */
    async fail(reason) {
      process.stderr.write(name + ': ' + run.step + ': ' + reason + '\n');
      for (const e of run.errors) process.stderr.write('  ' + e + '\n');
      try {
        await run.browser?.close();
      } catch {
        /* ignore */
      }
      process.exit(1);
    },
    /**
     * @param {import('playwright-core').Page} page
     * @param {string} label
     */
    watch(page, label) {
      page.on('console', (m) => {
        if (m.type() === 'error') run.errors.push(label + ' console: ' + m.text());
      });
      page.on('pageerror', (e) => run.errors.push(label + ' uncaught: ' + e.message));
      return page;
    },
  };
  const guard = setTimeout(() => run.fail('gave up after ' + budgetMs + ' ms'), budgetMs);
  guard.unref();
  return run;
}
