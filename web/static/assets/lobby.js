// @ts-check
// The lobby, /: the live sessions on this server, refreshed every 15 s while
// the page is visible. Each links to its dancer page.

import { h, byId, bpmText, listenersText } from './util.js';

/**
 * @typedef {object} LiveSession
 * @property {string} id
 * @property {string} djName
 * @property {string} [startedAt]
 * @property {string} status
 * @property {{title: string, artist?: string, bpm?: number, playedAt?: string} | null} [currentTrack]
 * @property {number} [listenerCount]
 */

const EVERY = 15000;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let timer;
let loaded = false;

async function refresh() {
  clearTimeout(timer);
  const status = byId('status');
  try {
    const r = await fetch('/api/sessions', { cache: 'no-store' });
    if (!r.ok) throw new Error('HTTP ' + r.status);
    /** @type {LiveSession[]} */
    const list = await r.json();
    show(Array.isArray(list) ? list.filter((s) => s && s.status !== 'ended') : []);
    loaded = true;
    status.textContent = '';
  } catch {
    status.textContent = loaded
      ? 'Can’t reach the server right now. Retrying…'
      : 'Can’t reach the server. Check you are on the event Wi-Fi. Retrying…';
  }
  if (document.visibilityState === 'visible') timer = setTimeout(refresh, EVERY);
}

/** @param {LiveSession[]} list */
function show(list) {
  const one = list.length === 1;
  byId('empty').hidden = list.length > 0;
  byId('sub').textContent = one ? 'Your DJ is live. Tap to follow the music.' : list.length ? 'Pick your DJ to see what is playing.' : '';
  byId('sessions').replaceChildren(...list.map((s) => h('li', {}, card(s, one))));
}

/**
 * @param {LiveSession} s
 * @param {boolean} one the only live session: shown big, with a Join button
 */
function card(s, one) {
  const t = s.currentTrack;
  const sub = t ? [t.artist, bpmText(t.bpm)].filter(Boolean).join(' · ') : '';
  return h(
    'a',
    { class: one ? 'sess sess-one' : 'sess', href: '/s/' + encodeURIComponent(s.id) },
    h('div', { class: 'sess-top' }, h('h2', { class: 'sess-dj', text: s.djName || 'Live session' })),
    h('p', { class: 'sess-meta' }, h('span', { class: 'badge', text: 'Live' }), h('span', { class: 'listeners', text: listenersText(s.listenerCount) })),
    t
      ? h('div', { class: 'sess-track' }, h('p', { class: 'label', text: 'Now playing' }), h('p', { class: 'sess-title', text: t.title }), sub ? h('p', { class: 'sess-sub', text: sub }) : null)
      : h('div', { class: 'sess-track' }, h('p', { class: 'sess-idle', text: 'Waiting for the first track…' })),
    one ? h('span', { class: 'btn sess-go', text: 'Join this session' }) : null,
  );
}

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') refresh();
  else clearTimeout(timer);
});
window.addEventListener('online', refresh);
refresh();
