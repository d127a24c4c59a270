// @ts-check
// Small helpers shared by the lobby and the dancer page. Every string that
// comes from the network goes into the page through textContent, never HTML.

/** Milliseconds to add to the phone's clock to get the server's clock. */
let skew = 0;

/** @param {number} ms */
export function setSkew(ms) {
  if (Number.isFinite(ms)) skew = ms;
}

/** The server's idea of now, in epoch milliseconds. */
export function now() {
  return Date.now() + skew;
}

/**
 * Creates an element. Children that are strings become text nodes.
 * @param {string} tag
 * @param {Record<string, string | boolean | undefined>} [attrs]
 * @param {...(Node | string | null | undefined | false)} kids
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === false) continue;
    if (k === 'text') el.textContent = String(v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid);
  }
  return el;
}

/**
 * @param {string} id
 * @returns {HTMLElement}
 */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error('missing #' + id);
  return el;
}

/**
 * Epoch milliseconds of an RFC 3339 time, or NaN.
 * @param {unknown} t
 */
export function ms(t) {
  return typeof t === 'string' ? Date.parse(t) : NaN;
}

/**
 * "just now", "4 min ago", "2 h 5 min ago".
 * @param {number} t epoch milliseconds
 */
export function ago(t) {
  if (!Number.isFinite(t)) return '';
  const min = Math.floor((now() - t) / 60000);
  if (min < 1) return 'just now';
  if (min < 60) return min + ' min ago';
  const hr = Math.floor(min / 60);
  if (hr >= 24) return Math.floor(hr / 24) + ' d ago';
  const rest = min % 60;
  return hr + ' h' + (rest ? ' ' + rest + ' min' : '') + ' ago';
}

/**
 * Wall-clock time on the phone, like "21:41" or "9:41 PM".
 * @param {number} t epoch milliseconds
 */
export function clock(t) {
  if (!Number.isFinite(t)) return '';
  return new Date(t).toLocaleTimeString([], { hour: 'numeric', minute: '2-digit' });
}

/**
 * A tempo for people: 96, or 95.5 rounded to 96.
 * @param {unknown} bpm
 */
export function bpmText(bpm) {
  return typeof bpm === 'number' && bpm > 0 ? Math.round(bpm) + ' BPM' : '';
}

/**
 * "1 listening", "37 listening".
 * @param {unknown} n
 */
export function listenersText(n) {
  return typeof n === 'number' && n >= 0 ? n + ' listening' : '';
}

/**
 * <pika-ago time="RFC 3339" prefix="Played "> shows how long ago a moment
 * was and keeps itself current while the page is visible.
 */
export class PikaAgo extends HTMLElement {
  static get observedAttributes() {
    return ['time', 'prefix'];
  }
  connectedCallback() {
    ticking.add(this);
    this.update();
  }
  disconnectedCallback() {
    ticking.delete(this);
  }
  attributeChangedCallback() {
    this.update();
  }
  update() {
    const t = ms(this.getAttribute('time'));
    const text = Number.isFinite(t) ? (this.getAttribute('prefix') || '') + ago(t) : '';
    if (this.textContent !== text) this.textContent = text;
    if (Number.isFinite(t)) this.title = new Date(t).toLocaleString();
  }
}

/** @type {Set<PikaAgo>} */
const ticking = new Set();
setInterval(() => {
  if (document.visibilityState !== 'visible') return;
  for (const el of ticking) el.update();
}, 20000);
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') for (const el of ticking) el.update();
});
if (!customElements.get('pika-ago')) customElements.define('pika-ago', PikaAgo);

const B32 = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * A ULID: 48 bits of milliseconds then 80 random bits, 26 characters of
 * Crockford base32, uppercase. Actions queued offline keep theirs, so the
 * server recognizes a retry.
 * @param {number} [t] epoch milliseconds
 */
export function ulid(t = Date.now()) {
  let s = '';
  for (let i = 0; i < 10; i++) {
    s = B32[t % 32] + s;
    t = Math.floor(t / 32);
  }
  const r = new Uint8Array(16);
  crypto.getRandomValues(r);
  for (const b of r) s += B32[b & 31]; // 16 × 5 = 80 bits
  return s;
}

/**
 * "4:05" for a countdown; "1:02:00" past an hour.
 * @param {number} left milliseconds
 */
export function countdown(left) {
  const s = Math.max(0, Math.ceil(left / 1000));
  const m = Math.floor(s / 60);
  const pad = (/** @type {number} */ n) => String(n).padStart(2, '0');
  return m >= 60 ? Math.floor(m / 60) + ':' + pad(m % 60) + ':' + pad(s % 60) : m + ':' + pad(s % 60);
}

/**
 * A short buzz where the phone has one.
 * @param {number | number[]} pattern
 */
export function buzz(pattern) {
  try {
    if (typeof navigator.vibrate === 'function') navigator.vibrate(pattern);
  } catch {
    /* not allowed before a tap, or not there */
  }
}

/**
 * Shows a short message at the bottom of the screen for a few seconds.
 * @param {string} text
 */
export function toast(text) {
  const box = document.getElementById('toast');
  if (!box || !text) return;
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    box.hidden = true;
  }, 5000);
}
/** @type {ReturnType<typeof setTimeout> | undefined} */
let toastTimer;

/**
 * An anonymous id kept in localStorage under key: the one stored if valid,
 * else a new one (prefix + 20 random hex digits), saved for next time. In
 * private mode nothing can be saved, so each visit gets a fresh id.
 * @param {string} key
 * @param {string} prefix
 */
export function storedId(key, prefix) {
  let id = '';
  try {
    id = localStorage.getItem(key) || '';
  } catch {
    /* private mode */
  }
  if (!/^[A-Za-z0-9_-]{8,64}$/.test(id)) {
    const b = new Uint8Array(10);
    crypto.getRandomValues(b);
    id = prefix + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    try {
      localStorage.setItem(key, id);
    } catch {
      /* ignore */
    }
  }
  return id;
}
