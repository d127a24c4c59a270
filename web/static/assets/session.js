// @ts-check
// The dancer page, /s/{sessionId}: what the DJ plays now and played tonight,
// kept in step with the gateway as docs/protocol.md describes.

import { Conn } from './conn.js';
import { h, byId, ms, clock, ago, bpmText, listenersText, toast } from './util.js';

/**
 * @typedef {object} PlayView
 * @property {string} playId
 * @property {string} playedAt
 * @property {string} [id]
 * @property {string} title
 * @property {string} [artist]
 * @property {number} [bpm]
 * @property {string} [key]
 */
/**
 * @typedef {object} SessionInfo
 * @property {string} id
 * @property {string} djName
 * @property {string} [startedAt]
 * @property {'live' | 'ended'} status
 * @property {string} [endedAt]
 * @property {string} [endReason]
 */
/** @typedef {import('./conn.js').Frame} Frame */

const HISTORY_KEEP = 1000;
const EVENT_TYPES = ['session.started', 'track.played', 'track.stopped', 'session.ended'];

const sessionId = sessionFromPath(location.pathname);
const clientId = loadClientId();

const state = {
  /** @type {SessionInfo | null} */
  session: null,
  /** @type {PlayView | null} */
  now: null,
  /** @type {PlayView[]} newest first, the current play included */
  history: [],
  /** @type {number | null} */
  listeners: null,
  /** @type {number | null} the seq of the last event applied */
  seq: null,
  /** waiting for the snapshot that answers our subscribe */
  awaiting: false,
  /** the session does not exist */
  missing: false,
  /** the full history was fetched once already */
  fullHistory: false,
  /** @type {'connecting' | 'live' | 'reconnecting'} */
  conn: 'connecting',
};

/**
 * The session id in /s/{id}, or "" if the path holds none.
 * @param {string} path
 */
function sessionFromPath(path) {
  const m = /^\/s\/([^/]+)\/?$/.exec(path);
  if (!m) return '';
  try {
    // A ULID (bus.ValidID): Crockford base32, case-insensitive by its spec.
    const id = decodeURIComponent(m[1]).toUpperCase();
    return /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/.test(id) ? id : '';
  } catch {
    return '';
  }
}

/** The phone's anonymous id, made once and kept in localStorage. */
function loadClientId() {
  const valid = /^[A-Za-z0-9_-]{8,64}$/;
  let id = '';
  try {
    id = localStorage.getItem('pika.clientId') || '';
  } catch {
    /* private mode: a fresh id per visit */
  }
  if (!valid.test(id)) {
    const bytes = new Uint8Array(10);
    crypto.getRandomValues(bytes);
    id = 'c-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    try {
      localStorage.setItem('pika.clientId', id);
    } catch {
      /* ignore */
    }
  }
  return id;
}

// ---- connection -----------------------------------------------------------

const wsURL = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
const conn = new Conn(wsURL, {
  open: subscribe,
  frame: onFrame,
  state(s, attempt) {
    if (s === 'open') return; // "live" waits for the snapshot
    const tries = s === 'retrying' && state.conn === 'connecting' && attempt >= 3;
    setConn(state.seq === null ? 'connecting' : 'reconnecting', tries);
  },
});

/**
 * @param {'connecting' | 'live' | 'reconnecting'} c
 * @param {boolean} [struggling] several attempts failed before the first success
 */
function setConn(c, struggling = false) {
  state.conn = c;
  document.body.dataset.conn = c;
  byId('conn-text').textContent =
    c === 'live'
      ? 'Connected'
      : c === 'reconnecting'
        ? 'Reconnecting… showing the last track we heard'
        : struggling
          ? 'Still trying to reach the DJ… check you are on the event Wi-Fi'
          : 'Connecting to the DJ…';
}

function subscribe() {
  if (state.missing) return;
  /** @type {Frame} */
  const f = { type: 'subscribe', sessionId, clientId };
  if (state.seq !== null) f.lastSeq = state.seq;
  state.awaiting = true;
  conn.send(f, (reply) => {
    if (reply.type !== 'error') return;
    state.awaiting = false;
    // The session id is the only thing in a subscribe that comes from the
    // link, so a bad_request here means the link is wrong.
    if (reply.code === 'unknown_session' || reply.code === 'bad_request') return showMissing();
    if (reply.code === 'unavailable' || reply.code === 'rate_limited') {
      // The server is there but cannot answer yet: ask again shortly.
      setTimeout(subscribe, 1500 + Math.random() * 2000);
    }
  });
}

/** @param {Frame} f */
function onFrame(f) {
  if (f.type === 'error') {
    if (!state.missing) toast(String(f.reason || 'Something went wrong.'));
    return;
  }
  if (f.sessionId !== undefined && f.sessionId !== sessionId) return;
  if (f.type === 'snapshot') return applySnapshot(f);
  if (f.type === 'listeners') {
    if (typeof f.count === 'number') state.listeners = f.count;
    return renderHeader();
  }
  if (typeof f.seq === 'number' && (EVENT_TYPES.includes(f.type) || f.v !== undefined)) onEvent(f);
}

/** @param {Frame} f */
function applySnapshot(f) {
  state.awaiting = false;
  state.session = f.session || null;
  state.now = f.nowPlaying || null;
  state.history = Array.isArray(f.history) ? f.history : [];
  state.listeners = typeof f.listenerCount === 'number' ? f.listenerCount : null;
  state.seq = typeof f.seq === 'number' ? f.seq : 0;
  // resume.missed is already part of this snapshot: complete or not, the
  // snapshot is the whole truth and nothing more is applied.
  conn.healthy();
  setConn('live');
  render();
  if (state.history.length >= 50 && !state.fullHistory) fetchHistory();
}

/** @param {Frame} e */
function onEvent(e) {
  if (state.awaiting || state.seq === null) return; // the coming snapshot covers it
  if (e.seq <= state.seq) return; // seen already
  if (e.seq !== state.seq + 1) {
    subscribe(); // a gap: ask for what we missed
    return;
  }
  state.seq = e.seq;
  const s = state.session;
  switch (e.type) {
    case 'session.started':
      state.session = {
        ...(s || {}),
        id: sessionId,
        djName: e.started?.djName || s?.djName || '',
        startedAt: s?.startedAt || e.at,
        status: 'live',
      };
      break;
    case 'track.played': {
      const t = e.play?.track;
      if (!t) break;
      /** @type {PlayView} */
      const p = { playId: e.id, playedAt: e.at, id: t.id, title: t.title, artist: t.artist, bpm: t.bpm, key: t.key };
      state.now = p;
      state.history = [p, ...state.history.filter((x) => x.playId !== p.playId)].slice(0, HISTORY_KEEP);
      break;
    }
    case 'track.stopped':
      state.now = null;
      break;
    case 'session.ended':
      state.now = null;
      state.session = {
        ...(s || { id: sessionId, djName: '' }),
        status: 'ended',
        endedAt: e.at,
        endReason: e.ended?.reason,
      };
      break;
  }
  render();
}

/** The snapshot holds 50 plays; a long night has more. Fetch them once. */
async function fetchHistory() {
  state.fullHistory = true;
  try {
    const r = await fetch('/api/sessions/' + encodeURIComponent(sessionId) + '/history?limit=' + HISTORY_KEEP);
    if (r.status === 404) return showMissing();
    if (!r.ok) return;
    /** @type {PlayView[]} */
    const all = await r.json();
    if (!Array.isArray(all)) return;
    const seen = new Set(state.history.map((p) => p.playId));
    const older = all.filter((p) => p && !seen.has(p.playId));
    state.history = [...state.history, ...older]
      .sort((a, b) => ms(b.playedAt) - ms(a.playedAt))
      .slice(0, HISTORY_KEEP);
    renderHistory();
  } catch {
    state.fullHistory = false; // try again after the next snapshot
  }
}

function showMissing() {
  state.missing = true;
  conn.stop();
  document.body.dataset.view = 'missing';
  document.title = 'No such session · Pika!';
}

// ---- rendering ------------------------------------------------------------

function render() {
  if (state.missing) return;
  const ended = state.session?.status === 'ended';
  document.body.dataset.view = ended ? 'ended' : state.now ? 'playing' : 'waiting';
  renderHeader();
  renderNow();
  renderEnded();
  renderHistory();
}

function renderHeader() {
  const s = state.session;
  const ended = s?.status === 'ended';
  byId('dj-name').textContent = s?.djName || 'Live session';
  const badge = byId('badge');
  badge.textContent = ended ? 'Ended' : 'Live';
  badge.className = ended ? 'badge badge-ended' : 'badge';
  byId('listeners').textContent = ended ? '' : listenersText(state.listeners);
}

function renderNow() {
  const p = state.now;
  const title = byId('np-title');
  const artist = byId('np-artist');
  const tags = byId('np-tags');
  const when = byId('np-ago');
  title.textContent = p ? p.title || 'Unknown track' : '';
  artist.textContent = p?.artist || '';
  tags.replaceChildren();
  if (p) {
    const bpm = bpmText(p.bpm);
    if (bpm) tags.append(h('span', { class: 'tag tag-bpm', text: bpm }));
    if (p.key) tags.append(h('span', { class: 'tag', text: 'Key ' + p.key }));
    when.setAttribute('time', p.playedAt);
  } else {
    when.removeAttribute('time');
  }
  byId('np-wait').textContent = state.history.length ? 'Waiting for the next track…' : 'Waiting for the DJ…';
  const dj = state.session?.djName;
  document.title = p ? p.title + (p.artist ? ' — ' + p.artist : '') + ' · Pika!' : (dj ? dj + ' · ' : '') + 'Pika!';
}

function renderEnded() {
  const s = state.session;
  if (s?.status !== 'ended') return;
  const t = ms(s.endedAt);
  const why = s.endReason === 'idle' ? 'after a quiet spell' : 'by the DJ';
  byId('ended-when').textContent = Number.isFinite(t)
    ? 'Ended ' + why + ' at ' + clock(t) + ' (' + ago(t) + ').'
    : 'Ended ' + why + '.';
}

function renderHistory() {
  const list = byId('hist');
  const cur = state.now?.playId;
  const plays = state.history.filter((p) => p.playId !== cur);
  const ended = state.session?.status === 'ended';
  byId('hist-title').textContent = ended ? 'Tonight’s tracks' : 'Earlier tonight';
  byId('hist-count').textContent = plays.length ? '(' + plays.length + ')' : '';
  byId('hist-empty').hidden = plays.length > 0;
  const rows = plays.map((p) => {
    const bpm = bpmText(p.bpm);
    const t = ms(p.playedAt);
    return h(
      'li',
      { class: 'track' },
      h('div', { class: 'track-main' }, h('p', { class: 'track-title', text: p.title || 'Unknown track' }), h('p', { class: 'track-sub', text: [p.artist, bpm].filter(Boolean).join(' · ') })),
      h('time', { class: 'track-time', datetime: p.playedAt, text: clock(t) }),
    );
  });
  list.replaceChildren(...rows);
}

// ---- share ---------------------------------------------------------------

function setupShare() {
  const dlg = /** @type {HTMLDialogElement} */ (byId('share'));
  const url = location.origin + '/s/' + encodeURIComponent(sessionId);
  const copy = byId('share-copy');
  const native = byId('share-native');
  byId('share-url').textContent = url;
  native.hidden = typeof navigator.share !== 'function';
  byId('share-btn').addEventListener('click', () => {
    const img = /** @type {HTMLImageElement} */ (byId('share-qr'));
    if (!img.getAttribute('src')) img.src = '/api/sessions/' + encodeURIComponent(sessionId) + '/qr.png';
    if (typeof dlg.showModal === 'function') dlg.showModal();
    else dlg.setAttribute('open', '');
  });
  byId('share-close').addEventListener('click', () => dlg.close());
  dlg.addEventListener('click', (e) => {
    if (e.target === dlg) dlg.close(); // a tap on the backdrop
  });
  copy.addEventListener('click', async () => {
    let done = false;
    try {
      await navigator.clipboard.writeText(url);
      done = true;
    } catch {
      // Plain http on a LAN is not a secure context: no clipboard API.
      const r = document.createRange();
      r.selectNodeContents(byId('share-url'));
      const sel = getSelection();
      sel?.removeAllRanges();
      sel?.addRange(r);
      try {
        done = document.execCommand('copy');
      } catch {
        done = false;
      }
    }
    copy.textContent = done ? 'Copied ✓' : 'Select and copy the link above';
    setTimeout(() => (copy.textContent = 'Copy link'), 2500);
  });
  native.addEventListener('click', () => {
    const dj = state.session?.djName;
    navigator.share({ title: (dj ? dj + ' on ' : '') + 'Pika!', url }).catch(() => {});
  });
}

// ---- start ---------------------------------------------------------------

if (!sessionId) {
  showMissing();
} else {
  setupShare();
  conn.start();
}
