// @ts-check
// Helpers of the history pages (recap, my likes, DJ profile). Network
// strings go in through textContent only (h() from util.js).

import { h, toast } from './util.js';

/**
 * Fetches JSON. Never throws: a network failure is status 0.
 * @param {string} url
 * @param {RequestInit} [init]
 * @returns {Promise<{status: number, body: any, headers?: Headers}>}
 */
export async function getJSON(url, init) {
  try {
    const r = await fetch(url, { cache: 'no-store', ...init });
    let body = null;
    try {
      body = await r.json();
    } catch {
      /* not JSON */
    }
    return { status: r.status, body, headers: r.headers };
  } catch {
    return { status: 0, body: null };
  }
}

/**
 * "Sat 14 Mar 2026" in the phone's language.
 * @param {number} t epoch milliseconds
 */
export function dayText(t) {
  if (!Number.isFinite(t)) return '';
  return new Date(t).toLocaleDateString([], { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' });
}

/**
 * "1 like", "12 likes".
 * @param {number} n
 * @param {string} one
 * @param {string} [many]
 */
export function count(n, one, many) {
  return n + ' ' + (n === 1 ? one : many || one + 's');
}

/**
 * A heart icon (app.css), hidden from screen readers.
 * @param {boolean} [filled] a solid heart: liked
 */
export function heart(filled) {
  return h('span', { class: filled ? 'heart heart-fill' : 'heart', 'aria-hidden': 'true' });
}

/**
 * A three-part bar of tempo votes. Widths are set through the CSSOM: the
 * pages' CSP refuses style attributes.
 * @param {{slower: number, perfect: number, faster: number}} t
 */
export function tempoMeter(t) {
  const total = t.slower + t.perfect + t.faster;
  const bar = h('div', { class: 'meter', role: 'img', 'aria-label': tempoWords(t) });
  for (const k of /** @type {const} */ (['slower', 'perfect', 'faster'])) {
    const part = h('span', { class: 'm-' + k });
    part.style.width = total ? (100 * t[k]) / total + '%' : '0';
    bar.append(part);
  }
  return bar;
}

/**
 * "3 slower, 10 perfect, 1 faster".
 * @param {{slower: number, perfect: number, faster: number}} t
 */
export function tempoWords(t) {
  return t.slower + ' slower, ' + t.perfect + ' perfect, ' + t.faster + ' faster';
}

/**
 * Shares the page: the phone's share sheet where there is one, else the
 * link is copied.
 * @param {string} title
 * @param {string} text
 */
export async function sharePage(title, text) {
  const url = location.origin + location.pathname;
  if (typeof navigator.share === 'function') {
    try {
      await navigator.share({ title, text, url });
      return;
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') return;
    }
  }
  try {
    await navigator.clipboard.writeText(url);
    toast('Link copied.');
  } catch {
    toast(url);
  }
}

/** The error sentence of a failed request. @param {{status: number, body: any}} r */
export function reasonOf(r) {
  if (r.status === 0) return 'Can’t reach the server. Check your connection and try again.';
  return (r.body && typeof r.body.reason === 'string' && r.body.reason) || 'Something went wrong (HTTP ' + r.status + ').';
}
