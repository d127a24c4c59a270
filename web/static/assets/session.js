// @ts-check
// The dancer page, /s/{sessionId}: what the DJ plays now and played tonight,
// and the crowd's side of it (likes, tempo, polls, announcements, thanks),
// kept in step with the gateway as docs/protocol.md describes.

import { Conn } from './conn.js';
import { Outbox } from './outbox.js';
import { h, byId, ms, clock, ago, bpmText, listenersText, toast, ulid, countdown, buzz, now, storedId } from './util.js';

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
/** @typedef {{id: string, question: string, options: string[], endsAt?: string}} Poll */
/** @typedef {{id: string, reason: string, counts: number[], total: number, winner: number}} PollResult */
/** @typedef {{id: string, text: string, endsAt: string}} Announcement */
/** @typedef {import('./conn.js').Frame} Frame */

const HISTORY_KEEP = 1000;
const SHOW_RESULTS = 10000; // a closed poll's results stay this long
const RETRY_LATER = 20000; // a like refused as rate_limited is sent again after this
const BATCH = 40; // likes items per frame (docs/protocol.md)
const EVENT_TYPES = ['session.started', 'track.played', 'track.stopped', 'session.ended'];

const sessionId = sessionFromPath(location.pathname);
const clientId = loadClientId();
const outbox = new Outbox(sessionId);

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
  /** @type {Poll | null} the open poll */
  poll: null,
  /** @type {{poll: Poll, result: PollResult, until: number} | null} a poll that just closed */
  closed: null,
  /** @type {Announcement | null} */
  ann: null,
  /** the DJ paused broadcasting: new plays are withheld */
  paused: false,
  /** @type {Frame | null} the latest tally */
  tally: null,
  /** @type {Set<string>} play ids this phone likes: the server's word plus the outbox */
  likes: new Set(),
  /** @type {Record<string, string>} play id → slower | perfect | faster */
  tempo: {},
  /** @type {Record<string, number>} poll id → option */
  votes: {},
};

/** Announcements this phone dismissed, kept for the tab's life. */
const dismissed = new Set(readList('pika.dismissed'));

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
  return storedId('pika.clientId', 'c-');
}

/** @param {string} key */
function readList(key) {
  try {
    const v = JSON.parse(sessionStorage.getItem(key) || '[]');
    return Array.isArray(v) ? v.map(String) : [];
  } catch {
    return [];
  }
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
  const waiting = outbox.list().length;
  byId('conn-text').textContent =
    c === 'live'
      ? 'Connected'
      : c === 'reconnecting'
        ? 'Reconnecting… showing the last track we heard' + (waiting ? ' · your likes will be sent' : '')
        : struggling
          ? 'Still trying to reach the DJ… check you are on the event Wi-Fi'
          : 'Connecting to the DJ…';
}

const live = () => state.conn === 'live' && conn.open;

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
  if (f.type === 'tally') return applyTally(f);
  if (typeof f.seq === 'number' && (EVENT_TYPES.includes(f.type) || f.v !== undefined || f.hidden)) onEvent(f);
}

/** @param {Frame} f */
function applySnapshot(f) {
  state.awaiting = false;
  state.session = f.session || null;
  state.now = f.nowPlaying || null;
  state.history = Array.isArray(f.history) ? f.history : [];
  state.listeners = typeof f.listenerCount === 'number' ? f.listenerCount : null;
  state.seq = typeof f.seq === 'number' ? f.seq : 0;
  state.poll = f.poll || null;
  if (state.closed && state.poll) state.closed = null;
  state.ann = f.announcement || null;
  state.paused = !!f.paused;
  state.tally = f.tally || null;
  if (typeof state.tally?.listeners === 'number') state.listeners = state.tally.listeners;
  const mine = f.mine || {};
  state.likes = new Set(Array.isArray(mine.likes) ? mine.likes : []);
  state.tempo = { ...(mine.tempo || {}) };
  state.votes = { ...(mine.votes || {}) };
  // What the outbox holds is newer than what the server knows.
  for (const p of outbox.list()) {
    if (p.kind === 'like') state.likes.add(p.playId);
    else state.likes.delete(p.playId);
  }
  document.body.dataset.recovered = f.recovered === undefined ? '' : String(f.recovered);
  // resume.missed is already part of this snapshot: complete or not, the
  // snapshot is the whole truth and nothing more is applied.
  conn.healthy();
  setConn('live');
  render();
  flush();
  if (state.history.length >= 50 && !state.fullHistory) fetchHistory();
}

/** @param {Frame} f */
function applyTally(f) {
  state.tally = f;
  if (typeof f.listeners === 'number') state.listeners = f.listeners;
  renderHeader();
  renderNowActs();
  renderPoll();
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
      if (e.hidden || !t) {
        // Withheld (broadcasting paused, or a hidden play): something else
        // plays now, and the page says nothing about it.
        state.now = null;
        break;
      }
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
      state.poll = null;
      state.ann = null;
      state.session = {
        ...(s || { id: sessionId, djName: '' }),
        status: 'ended',
        endedAt: e.at,
        endReason: e.ended?.reason,
      };
      break;
    case 'poll.started':
      if (e.poll?.id) {
        state.poll = e.poll;
        state.closed = null;
      }
      break;
    case 'poll.closed': {
      const r = e.pollResult;
      const p = state.poll;
      if (r && p && p.id === r.id) state.closed = { poll: p, result: r, until: Date.now() + SHOW_RESULTS };
      if (r && p?.id === r.id) state.poll = null;
      break;
    }
    case 'announcement.made':
      if (e.announcement?.id) {
        state.ann = e.announcement;
        buzz([60, 80, 60]);
      }
      break;
    case 'announcement.cancelled':
      if (state.ann && state.ann.id === e.ref?.id) state.ann = null;
      break;
    case 'play.hidden': {
      const id = e.ref?.id;
      state.history = state.history.filter((p) => p.playId !== id);
      if (state.now?.playId === id) state.now = null;
      break;
    }
    case 'play.corrected': {
      const c = e.correction;
      if (!c) break;
      for (const p of [state.now, ...state.history]) {
        if (p && p.playId === c.playId) {
          p.title = c.title;
          p.artist = c.artist;
        }
      }
      break;
    }
    case 'broadcast.paused':
      state.paused = true;
      break;
    case 'broadcast.resumed':
      state.paused = false;
      break;
    default:
      return; // a type this page does not know: seq advanced, nothing shown
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

// ---- actions ---------------------------------------------------------------

const ended = () => state.session?.status === 'ended';

/** @param {string} playId */
function toggleLike(playId) {
  if (!playId || ended()) return;
  const like = !state.likes.has(playId);
  if (like) state.likes.add(playId);
  else state.likes.delete(playId);
  buzz(15);
  renderLike(playId);
  const item = outbox.put(playId, like ? 'like' : 'unlike', ulid());
  if (!live()) {
    setConn(state.conn); // "your likes will be sent"
    return; // stays in the outbox: sent with the next snapshot
  }
  conn.send({ type: item.kind, id: item.id, playId }, (r) =>
    answered(item, r.type === 'ok' ? { ok: true } : { ok: false, code: r.code, reason: r.reason }, false),
  );
}

/**
 * The server answered one queued like or unlike.
 * @param {import('./outbox.js').Pending} item
 * @param {{ok: boolean, code?: string, reason?: string}} res
 * @param {boolean} batch answered inside a "likes" batch (no error frame of its own)
 */
function answered(item, res, batch) {
  if (!res.ok && (res.code === 'rate_limited' || res.code === 'unavailable')) {
    if (batch && res.reason) toast(res.reason);
    retryLater();
    return; // kept: sent again
  }
  outbox.done(item.id);
  if (res.ok) return;
  if (batch) toast(res.reason || 'A like could not be sent.');
  // Refused for good: show what the server holds, unless a newer tap is queued.
  if (!outbox.items.has(item.playId)) {
    if (item.kind === 'like') state.likes.delete(item.playId);
    else state.likes.add(item.playId);
    renderLike(item.playId);
  }
}

/** @type {ReturnType<typeof setTimeout> | undefined} */
let retryTimer;
function retryLater() {
  clearTimeout(retryTimer);
  retryTimer = setTimeout(flush, RETRY_LATER);
}

/** Sends everything in the outbox as "likes" batches of at most 40 (what fits a 4 KB frame). */
function flush() {
  const items = outbox.list();
  if (!items.length || !live()) return;
  for (let i = 0; i < items.length; i += BATCH) {
    const chunk = items.slice(i, i + BATCH);
    conn.send({ type: 'likes', items: chunk.map(({ id, playId, kind }) => ({ id, playId, kind })) }, (r) => {
      if (r.type !== 'ok') return retryLater();
      const byId = new Map(chunk.map((p) => [p.id, p]));
      for (const res of Array.isArray(r.results) ? r.results : []) {
        const item = byId.get(res?.id);
        if (item) answered(item, res, true);
      }
      if (state.conn === 'live') setConn('live');
    });
  }
}

/** @param {string} choice slower | perfect | faster */
function tapTempo(choice) {
  const p = state.now;
  if (!p || ended()) return;
  if (!live()) return toast('Not connected right now; try again in a moment.');
  const prev = state.tempo[p.playId];
  const next = prev === choice ? 'clear' : choice;
  if (next === 'clear') delete state.tempo[p.playId];
  else state.tempo[p.playId] = next;
  buzz(10);
  renderNowActs();
  conn.send({ type: 'tempo', playId: p.playId, tempo: next }, (r) => {
    if (r.type !== 'error') return;
    if (prev) state.tempo[p.playId] = prev;
    else delete state.tempo[p.playId];
    renderNowActs();
  });
}

/** @param {number} option */
function vote(option) {
  const p = state.poll;
  if (!p || state.votes[p.id] !== undefined) return;
  if (!live()) return toast('Not connected right now; try again in a moment.');
  state.votes[p.id] = option;
  buzz(15);
  renderPoll();
  conn.send({ type: 'vote', pollId: p.id, option }, (r) => {
    if (r.type !== 'error' || r.code === 'already_voted') return;
    delete state.votes[p.id];
    renderPoll();
  });
}

function thank() {
  const btn = /** @type {HTMLButtonElement} */ (byId('thanks'));
  const text = byId('thanks-text');
  if (!live()) return toast('Not connected right now; try again in a moment.');
  btn.disabled = true;
  conn.send({ type: 'thanks' }, (r) => {
    const ok = r.type === 'ok';
    if (ok) {
      buzz(15);
      text.textContent = 'Thank-you sent. The DJ sees it 💛';
      btn.classList.add('sent');
    }
    setTimeout(
      () => {
        btn.disabled = false;
        btn.classList.remove('sent');
        text.textContent = 'Send the DJ a thank-you';
      },
      ok ? 4000 : 0,
    );
  }) || (btn.disabled = false);
}

// ---- rendering ------------------------------------------------------------

function render() {
  if (state.missing) return;
  document.body.dataset.view = ended() ? 'ended' : state.paused ? 'paused' : state.now ? 'playing' : 'waiting';
  renderHeader();
  renderAnn();
  renderNow();
  renderNowActs();
  renderPoll();
  renderEnded();
  renderHistory();
}

function renderHeader() {
  const s = state.session;
  const done = s?.status === 'ended';
  byId('dj-name').textContent = s?.djName || 'Live session';
  const badge = byId('badge');
  badge.textContent = done ? 'Ended' : state.paused ? 'Paused' : 'Live';
  badge.className = done || state.paused ? 'badge badge-ended' : 'badge';
  const l = byId('listeners');
  l.textContent = done ? '' : listenersText(state.listeners);
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
  const shown = p && !state.paused;
  document.title = shown ? p.title + (p.artist ? ' — ' + p.artist : '') + ' · Pika!' : (dj ? dj + ' · ' : '') + 'Pika!';
}

/** The like button and tempo buttons of the current play. */
function renderNowActs() {
  const p = state.now;
  const btn = byId('np-like');
  btn.dataset.play = p?.playId || '';
  const n = p ? state.tally?.likes?.[p.playId] : 0;
  byId('np-like-n').textContent = typeof n === 'number' && n > 0 ? String(n) : '';
  if (p) renderLike(p.playId);
  const mine = p ? state.tempo[p.playId] : undefined;
  for (const b of document.querySelectorAll('.tb')) {
    const on = /** @type {HTMLElement} */ (b).dataset.tempo === mine;
    b.setAttribute('aria-pressed', String(on));
  }
  byId('tempo-h').textContent = mine ? 'Your tempo vote · tap again to clear' : 'Tempo for you?';
}

/**
 * Every like button of one play shows whether this phone likes it.
 * @param {string} playId
 */
function renderLike(playId) {
  const on = state.likes.has(playId);
  for (const b of document.querySelectorAll('[data-play="' + CSS.escape(playId) + '"]')) {
    b.setAttribute('aria-pressed', String(on));
    if (b.id === 'np-like') byId('np-like-text').textContent = on ? 'Liked' : 'Like';
  }
}

function renderAnn() {
  const box = byId('ann');
  const a = state.ann;
  const show = !!a && !ended() && !dismissed.has(a.id) && ms(a.endsAt) > now();
  box.hidden = !show;
  if (!show || !a) return;
  byId('ann-text').textContent = a.text;
  tickAnn();
}

function tickAnn() {
  const a = state.ann;
  if (!a) return;
  const left = ms(a.endsAt) - now();
  if (left <= 0) {
    byId('ann').hidden = true;
    return;
  }
  byId('ann-left').textContent = 'Showing for ' + (left > 90000 ? Math.ceil(left / 60000) + ' more min' : countdown(left));
}

let pollShown = '';
function renderPoll() {
  const box = byId('poll');
  const closed = state.closed && state.closed.until > Date.now() ? state.closed : null;
  const p = state.poll || closed?.poll;
  if (!p || ended()) {
    box.hidden = true;
    pollShown = '';
    return;
  }
  box.hidden = false;
  box.dataset.state = state.poll ? 'open' : 'closed';
  const opts = byId('poll-opts');
  if (pollShown !== p.id) {
    pollShown = p.id;
    byId('poll-q').textContent = p.question;
    opts.replaceChildren(
      ...p.options.map((o, i) =>
        h(
          'button',
          { class: 'opt', type: 'button', 'data-opt': String(i), 'data-testid': 'poll-option-' + i },
          h('span', { class: 'opt-fill', 'aria-hidden': 'true' }),
          h('span', { class: 'opt-label', text: o }),
          h('span', { class: 'opt-n', 'data-testid': 'poll-count-' + i }),
        ),
      ),
    );
  }
  const mine = state.votes[p.id];
  const t = state.tally?.poll;
  /** @type {number[] | null} */
  const counts = closed ? closed.result.counts : t && t.id === p.id && Array.isArray(t.counts) ? t.counts : null;
  const total = counts ? counts.reduce((a, b) => a + (b || 0), 0) : 0;
  const cancelled = closed?.result.reason === 'cancelled';
  const winner = closed && !cancelled ? closed.result.winner : -1;
  opts.querySelectorAll('.opt').forEach((b, i) => {
    const btn = /** @type {HTMLButtonElement} */ (b);
    const c = counts?.[i] || 0;
    btn.disabled = !state.poll || mine !== undefined;
    btn.setAttribute('aria-pressed', String(mine === i));
    btn.classList.toggle('win', winner === i);
    const pct = total ? Math.round((c / total) * 100) : 0;
    /** @type {HTMLElement} */ (btn.firstChild).style.width = pct + '%';
    const n = /** @type {HTMLElement} */ (btn.lastChild);
    n.textContent = counts && !cancelled ? String(c) : '';
    btn.setAttribute('aria-label', p.options[i] + (mine === i ? ', your vote' : '') + (counts && !cancelled ? ', ' + c + (c === 1 ? ' vote' : ' votes') : ''));
  });
  byId('poll-label').textContent = state.poll ? 'Poll' : cancelled ? 'Poll cancelled' : 'Final results';
  const votes = total + (total === 1 ? ' vote' : ' votes');
  byId('poll-foot').textContent = cancelled
    ? 'The DJ cancelled this poll.'
    : !state.poll
      ? votes + (mine !== undefined ? ' · thanks for voting!' : '')
      : mine === undefined
        ? 'Tap an answer to vote · ' + votes
        : 'Thanks for voting! Results update live · ' + votes;
  tickPoll();
}

function tickPoll() {
  const el = byId('poll-left');
  const p = state.poll;
  const end = p?.endsAt ? ms(p.endsAt) : NaN;
  if (!p || !Number.isFinite(end)) {
    el.textContent = '';
    return;
  }
  const left = end - now();
  el.textContent = left > 0 ? countdown(left) + ' left' : 'Closing…';
}

function renderEnded() {
  const s = state.session;
  if (s?.status !== 'ended') return;
  byId('ended-recap').setAttribute('href', '/recap/' + encodeURIComponent(sessionId));
  const t = ms(s.endedAt);
  const why = s.endReason === 'idle' ? 'after a quiet spell' : 'by the DJ';
  byId('ended-when').textContent = Number.isFinite(t)
    ? 'Ended ' + why + ' at ' + clock(t) + ' (' + ago(t) + ').'
    : 'Ended ' + why + '.';
  const liked = state.history.filter((p) => state.likes.has(p.playId)).length;
  byId('ended-likes').textContent = liked ? ', with the ' + (liked === 1 ? 'one' : liked) + ' you liked marked ♥' : '';
}

function renderHistory() {
  const list = byId('hist');
  const cur = state.paused ? undefined : state.now?.playId;
  const plays = state.history.filter((p) => p.playId !== cur);
  const done = ended();
  byId('hist-title').textContent = done ? 'Tonight’s tracks' : 'Earlier tonight';
  byId('hist-count').textContent = plays.length ? '(' + plays.length + ')' : '';
  byId('hist-empty').hidden = plays.length > 0;
  const rows = plays.map((p) => {
    const bpm = bpmText(p.bpm);
    const t = ms(p.playedAt);
    const name = p.title || 'Unknown track';
    const liked = state.likes.has(p.playId);
    return h(
      'li',
      { class: 'track' },
      h('div', { class: 'track-main' }, h('p', { class: 'track-title', text: name }), h('p', { class: 'track-sub', text: [p.artist, bpm].filter(Boolean).join(' · ') })),
      h('time', { class: 'track-time', datetime: p.playedAt, text: clock(t) }),
      done
        ? liked && h('span', { class: 'like like-row', 'aria-pressed': 'true', role: 'img', 'aria-label': 'You liked this' }, h('span', { class: 'heart', 'aria-hidden': 'true' }))
        : h(
            'button',
            { class: 'like like-row', type: 'button', 'data-play': p.playId, 'aria-pressed': String(liked), 'aria-label': 'Like ' + name, 'data-testid': 'like-row' },
            h('span', { class: 'heart', 'aria-hidden': 'true' }),
          ),
    );
  });
  list.replaceChildren(...rows);
}

/** Countdowns, and a closed poll's results leaving after their time. */
function tick() {
  if (document.visibilityState !== 'visible' || state.missing) return;
  if (state.ann) tickAnn();
  if (state.poll) tickPoll();
  if (state.closed && state.closed.until <= Date.now()) {
    state.closed = null;
    renderPoll();
  }
}

function setupActions() {
  byId('np-like').addEventListener('click', (e) => toggleLike(/** @type {HTMLElement} */ (e.currentTarget).dataset.play || ''));
  byId('hist').addEventListener('click', (e) => {
    const b = /** @type {HTMLElement} */ (e.target).closest('button[data-play]');
    if (b instanceof HTMLElement) toggleLike(b.dataset.play || '');
  });
  for (const b of document.querySelectorAll('.tb')) {
    b.addEventListener('click', () => tapTempo(/** @type {HTMLElement} */ (b).dataset.tempo || ''));
  }
  byId('poll-opts').addEventListener('click', (e) => {
    const b = /** @type {HTMLElement} */ (e.target).closest('button[data-opt]');
    if (b instanceof HTMLButtonElement && !b.disabled) vote(Number(b.dataset.opt));
  });
  byId('thanks').addEventListener('click', thank);
  byId('ann-close').addEventListener('click', () => {
    if (!state.ann) return;
    dismissed.add(state.ann.id);
    try {
      sessionStorage.setItem('pika.dismissed', JSON.stringify([...dismissed].slice(-20)));
    } catch {
      /* ignore */
    }
    renderAnn();
  });
  setInterval(tick, 1000);
}

// ---- share ---------------------------------------------------------------

function setupShare() {
  const dlg = /** @type {HTMLDialogElement} */ (byId('share'));
  // This page's own address until the server names a better one: a DJ
  // linked to the cloud hands out the cloud's link (joinUrl), which works
  // on mobile data too, and the QR code below carries the same.
  let url = location.origin + '/s/' + encodeURIComponent(sessionId);
  const copy = byId('share-copy');
  const native = byId('share-native');
  byId('share-url').textContent = url;
  native.hidden = typeof navigator.share !== 'function';
  byId('share-btn').addEventListener('click', () => {
    fetch('/api/sessions/' + encodeURIComponent(sessionId))
      .then((r) => (r.ok ? r.json() : null))
      .then((info) => {
        if (info && typeof info.joinUrl === 'string' && /^https?:\/\//.test(info.joinUrl)) {
          url = info.joinUrl;
          byId('share-url').textContent = url;
        }
      })
      .catch(() => {});
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
  setupActions();
  // The outbox is read before the first subscribe, so its likes show at once
  // and go out with the first snapshot; a stuck IndexedDB does not hold the
  // page up for more than half a second.
  Promise.race([outbox.load(), new Promise((r) => setTimeout(r, 500))]).finally(() => conn.start());
}
