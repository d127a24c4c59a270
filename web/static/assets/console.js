// @ts-check
// The DJ console, /dj#s=<sessionId>&k=<secret>: what the floor says (likes,
// tempo, polls, thank-yous, listeners) and the DJ's controls, sent as "dj"
// frames carrying the session's secret (docs/protocol.md, "DJ commands").
// The secret comes in the URL fragment, which browsers never send to a
// server, and is then kept in sessionStorage only.

import { Conn } from './conn.js';
import { h, byId, ms, clock, bpmText, toast, countdown, now, storedId } from './util.js';

/** @typedef {import('./conn.js').Frame} Frame */
/** @typedef {{playId: string, playedAt: string, id?: string, title: string, artist?: string, bpm?: number, key?: string}} PlayView */
/** @typedef {{id: string, question: string, options: string[], endsAt?: string}} Poll */

const PRESETS = {
  tempo: ['Tempo check', ['Slower', 'Perfect', 'Faster']],
  vibe: ['Vibe check', ['🔥 Love it', '👍 Good', '😐 Meh']],
  role: ['Role check', ['Leaders', 'Followers', 'Both']],
};
const MAX_BURST = 30;
const reducedMotion = matchMedia('(prefers-reduced-motion: reduce)');

const { sessionId, secret } = readLink();

const state = {
  /** @type {any} */
  session: null,
  /** @type {PlayView | null} */
  now: null,
  /** @type {PlayView[]} */
  history: [],
  /** @type {number | null} */
  seq: null,
  awaiting: false,
  /** @type {Poll | null} */
  poll: null,
  /** @type {{poll: Poll, result: any} | null} */
  last: null,
  /** @type {{id: string, text: string, endsAt: string} | null} */
  ann: null,
  paused: false,
  /** @type {Frame | null} */
  tally: null,
  /** @type {number | null} thank-yous counted so far (null: not yet known) */
  thanks: null,
  /** @type {{n: number, at: number}[]} */
  feed: [],
  annMinutes: 5,
  /** @type {string} the play whose inline edit form is open */
  editing: '',
  /** @type {string} the play whose "hide" waits for its confirm */
  hiding: '',
};

/** The session and secret from #s=…&k=…, or from this tab's sessionStorage. */
function readLink() {
  const frag = new URLSearchParams(location.hash.slice(1));
  const sid = (frag.get('s') || '').toUpperCase();
  if (!/^[0-7][0-9A-HJKMNP-TV-Z]{25}$/.test(sid)) return { sessionId: '', secret: '' };
  const key = 'pika.dj.' + sid;
  let k = frag.get('k') || '';
  try {
    if (k) sessionStorage.setItem(key, k);
    else k = sessionStorage.getItem(key) || '';
  } catch {
    /* storage refused: the fragment alone must do */
  }
  // Out of the address bar (and screenshots, and shared screens); a reload
  // finds the secret in sessionStorage.
  if (frag.has('k')) history.replaceState(null, '', '/dj#s=' + sid);
  return { sessionId: sid, secret: k };
}

function consoleId() {
  return storedId('pika.consoleId', 'dj-');
}

// ---- connection -----------------------------------------------------------

const conn = new Conn((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws', {
  open: subscribe,
  frame: onFrame,
  state(s) {
    if (s !== 'open') setConn(state.seq === null ? 'connecting' : 'reconnecting');
  },
});
const clientId = consoleId();

/** @param {'connecting' | 'live' | 'reconnecting'} c */
function setConn(c) {
  document.body.dataset.conn = c;
  byId('conn-text').textContent =
    c === 'live' ? 'Connected' : c === 'reconnecting' ? 'Reconnecting to pika… what you see may be out of date' : 'Connecting to pika…';
}

function subscribe() {
  /** @type {Frame} */
  // With the secret the console sees plays withheld from dancers (while the
  // track list is paused) and is not counted as a listener.
  const f = { type: 'subscribe', sessionId, clientId, secret };
  if (state.seq !== null) f.lastSeq = state.seq;
  state.awaiting = true;
  conn.send(f, (r) => {
    if (r.type !== 'error') return;
    state.awaiting = false;
    if (r.code === 'unavailable' || r.code === 'rate_limited') setTimeout(subscribe, 1500 + Math.random() * 2000);
    else toast(String(r.reason || 'The console could not join the session.'));
  });
}

/**
 * Sends a DJ command; resolves with the reply. Errors show their reason.
 * @param {string} command
 * @param {Record<string, any>} [fields]
 * @param {HTMLButtonElement} [btn] disabled while the command is out
 * @returns {Promise<Frame | null>}
 */
function dj(command, fields = {}, btn) {
  return new Promise((resolve) => {
    if (btn) btn.disabled = true;
    const sent = conn.send({ type: 'dj', sessionId, secret, command, ...fields }, (r) => {
      if (btn) btn.disabled = false;
      if (r.type === 'error') {
        if (r.code === 'forbidden') document.body.dataset.forbidden = 'true';
        resolve(null);
      } else resolve(r);
    });
    if (!sent) {
      if (btn) btn.disabled = false;
      toast('Not connected to pika right now; try again in a moment.');
      resolve(null);
    }
  });
}

/** @param {Frame} f */
function onFrame(f) {
  if (f.type === 'error') return toast(String(f.reason || 'Something went wrong.'));
  if (f.sessionId !== undefined && f.sessionId !== sessionId) return;
  if (f.type === 'snapshot') return applySnapshot(f);
  if (f.type === 'tally') return applyTally(f, false);
  if (f.type === 'source') return applySource(f);
  if (typeof f.seq === 'number') onEvent(f);
}

/**
 * What the laptop's detector is doing: which DJ program, whether it reads
 * it, the last track it saw, or what is wrong (in words the DJ can act on).
 * @param {Frame} f
 */
function applySource(f) {
  const el = byId('source');
  const st = String(f.state || 'none');
  el.dataset.state = st;
  el.title = f.why ? String(f.why) : '';
  let text;
  if (st === 'none') {
    text = 'No DJ program followed: type plays in pika’s window, or start it with --source. ' + (f.why ? String(f.why) : '');
  } else {
    const name = String(f.name || f.source || 'DJ program');
    if (st === 'error') {
      text = `${name}: ${String(f.error || 'not readable')}`;
    } else {
      text = `Following ${name}`;
      if (f.lastTrack) {
        const at = typeof f.lastAt === 'string' ? Date.parse(f.lastAt) : NaN;
        text += ` · last seen: ${String(f.lastTrack)}` + (Number.isFinite(at) ? ` (${clock(at)})` : '');
      } else {
        text += ' · waiting for the first track';
      }
    }
  }
  byId('source-text').textContent = text.trim();
  el.hidden = false;
  applyLinks(Array.isArray(f.links) ? f.links : []);
}

/**
 * The laptop's ways to the dancers: the venue's network and, linked to the
 * cloud, the cloud (up or down, and since when).
 * @param {Array<{name?: string, up?: boolean, url?: string, since?: string}>} links
 */
function applyLinks(links) {
  const ul = byId('links');
  ul.replaceChildren();
  for (const l of links) {
    const li = document.createElement('li');
    const up = l.up === true;
    li.dataset.up = String(up);
    li.dataset.link = String(l.name || '');
    const dot = document.createElement('span');
    dot.className = 'source-dot';
    dot.setAttribute('aria-hidden', 'true');
    const label = l.name === 'cloud' ? 'Cloud' : 'Venue Wi-Fi';
    const since = typeof l.since === 'string' ? Date.parse(l.since) : NaN;
    let text = `${label}: ${up ? 'up' : 'down'}`;
    if (!up && Number.isFinite(since)) text += ` since ${clock(since)}`;
    if (up && l.url) text += ` · ${String(l.url)}`;
    const span = document.createElement('span');
    span.textContent = text;
    li.append(dot, span);
    ul.append(li);
  }
  ul.hidden = links.length === 0;
}

/** @param {Frame} f */
function applySnapshot(f) {
  state.awaiting = false;
  state.session = f.session || null;
  state.now = f.nowPlaying || null;
  state.history = Array.isArray(f.history) ? f.history : [];
  state.seq = typeof f.seq === 'number' ? f.seq : 0;
  state.poll = f.poll || null;
  state.ann = f.announcement || null;
  state.paused = !!f.paused;
  conn.healthy();
  setConn('live');
  if (f.tally) applyTally(f.tally, true);
  else if (typeof f.listenerCount === 'number') byId('listeners').textContent = String(f.listenerCount);
  render();
}

/**
 * @param {Frame} t
 * @param {boolean} quiet a snapshot's tally: no hearts, no feed
 */
function applyTally(t, quiet) {
  const prev = state.tally;
  state.tally = t;
  const cur = state.now?.playId;
  if (!quiet && cur && prev) {
    const up = (t.likes?.[cur] || 0) - (prev.likes?.[cur] || 0);
    if (up > 0) burst(up);
  }
  if (typeof t.thanks === 'number') {
    if (!quiet && state.thanks !== null && t.thanks > state.thanks) {
      state.feed.unshift({ n: t.thanks - state.thanks, at: Date.now() });
      state.feed.length = Math.min(state.feed.length, 6);
      const big = byId('thanks-n');
      big.classList.remove('bump');
      void big.offsetWidth; // restart the animation
      big.classList.add('bump');
    }
    state.thanks = t.thanks;
  }
  if (typeof t.listeners === 'number') byId('listeners').textContent = String(t.listeners);
  renderTally();
}

/** @param {Frame} e */
function onEvent(e) {
  if (state.awaiting || state.seq === null || e.seq <= state.seq) return;
  if (e.seq !== state.seq + 1) return subscribe();
  state.seq = e.seq;
  switch (e.type) {
    case 'track.played': {
      const t = e.play?.track;
      if (e.hidden || !t) {
        state.now = null;
        break;
      }
      const p = { playId: e.id, playedAt: e.at, id: t.id, title: t.title, artist: t.artist, bpm: t.bpm, key: t.key };
      state.now = p;
      state.history = [p, ...state.history.filter((x) => x.playId !== p.playId)];
      break;
    }
    case 'track.stopped':
      state.now = null;
      break;
    case 'session.started':
      state.session = { ...(state.session || {}), djName: e.started?.djName || state.session?.djName, status: 'live' };
      break;
    case 'session.ended':
      state.session = { ...(state.session || {}), status: 'ended', endedAt: e.at };
      state.now = null;
      state.poll = null;
      state.ann = null;
      break;
    case 'poll.started':
      state.poll = e.poll || null;
      break;
    case 'poll.closed':
      if (state.poll && e.pollResult?.id === state.poll.id) {
        state.last = { poll: state.poll, result: e.pollResult };
        state.poll = null;
      }
      break;
    case 'announcement.made':
      state.ann = e.announcement || null;
      break;
    case 'announcement.cancelled':
      if (state.ann?.id === e.ref?.id) state.ann = null;
      break;
    case 'play.hidden':
      state.history = state.history.filter((p) => p.playId !== e.ref?.id);
      if (state.now?.playId === e.ref?.id) state.now = null;
      break;
    case 'play.corrected': {
      const c = e.correction;
      for (const p of [state.now, ...state.history]) {
        if (c && p && p.playId === c.playId) {
          p.title = c.title;
          p.artist = c.artist;
        }
      }
      if (state.editing === c?.playId) state.editing = '';
      break;
    }
    case 'broadcast.paused':
      state.paused = true;
      break;
    case 'broadcast.resumed':
      state.paused = false;
      break;
    default:
      return;
  }
  render();
}

// ---- rendering ------------------------------------------------------------

function render() {
  const ended = state.session?.status === 'ended';
  document.body.dataset.view = ended ? 'ended' : 'live';
  const name = state.session?.djName || 'Live session';
  byId('dj-name').textContent = name;
  document.title = name + ' · DJ console · Pika!';
  const badge = byId('badge');
  badge.textContent = ended ? 'Ended' : state.paused ? 'Paused' : 'Live';
  badge.className = 'badge' + (ended || state.paused ? ' badge-off' : '');
  const pause = byId('pause');
  pause.textContent = state.paused ? 'Resume track list' : 'Pause track list';
  pause.setAttribute('aria-pressed', String(state.paused));
  byId('paused-bar').hidden = !state.paused || ended;
  byId('ended-bar').hidden = !ended;
  renderNow();
  renderHistory();
  renderPoll();
  renderAnn();
  renderTally();
}

function renderNow() {
  const p = state.now;
  byId('np-title').textContent = p ? p.title || 'Unknown track' : state.paused ? 'Hidden while paused' : 'Nothing playing';
  byId('np-artist').textContent = p?.artist || '';
  byId('np-meta').textContent = p ? [bpmText(p.bpm), p.key ? 'Key ' + p.key : '', 'since ' + clock(ms(p.playedAt))].filter(Boolean).join(' · ') : '';
  byId('np-likes').dataset.playId = p?.playId || '';
  document.body.dataset.playing = p ? 'true' : 'false';
}

function renderTally() {
  const t = state.tally;
  const likes = t?.likes || {};
  const cur = state.now?.playId;
  byId('np-likes').textContent = String((cur && likes[cur]) || 0);
  byId('likes-total').textContent = String(Object.values(likes).reduce((a, b) => a + (Number(b) || 0), 0));
  for (const li of byId('hist').querySelectorAll('li[data-play-id]')) {
    const el = li.querySelector('.play-likes');
    if (el) el.textContent = String(likes[/** @type {HTMLElement} */ (li).dataset.playId || ''] || 0);
  }
  // tempo of the current play
  const tp = t?.tempo && t.tempo.playId === cur ? t.tempo : null;
  const tt = tp ? tp.slower + tp.perfect + tp.faster : 0;
  for (const k of ['slower', 'perfect', 'faster']) {
    const n = tp ? tp[k] || 0 : 0;
    byId('t-' + k).style.width = (tt ? Math.round((n / tt) * 100) : 0) + '%';
    byId('tn-' + k).textContent = String(n);
  }
  byId('tempo-total').textContent = tt ? '· ' + tt + (tt === 1 ? ' vote' : ' votes') : '· no votes yet';
  // live poll
  if (state.poll) pollBars(state.poll, t?.poll?.id === state.poll.id ? t.poll.counts : null);
  // thanks
  byId('thanks-n').textContent = String(state.thanks || 0);
  byId('thanks-feed').replaceChildren(
    ...state.feed.map((f) =>
      h('li', {}, h('span', { text: f.n === 1 ? '1 new thank-you' : f.n + ' new thank-yous' }), h('time', { class: 'muted', text: clock(f.at) })),
    ),
  );
  if (!state.feed.length) byId('thanks-feed').append(h('li', { class: 'muted', text: state.thanks ? 'New thank-yous show up here.' : 'Dancers can thank you from their phones.' }));
}

function renderHistory() {
  const list = byId('hist');
  const likes = state.tally?.likes || {};
  byId('hist-count').textContent = state.history.length ? '· ' + state.history.length + (state.history.length === 1 ? ' play' : ' plays') : '';
  byId('hist-empty').hidden = state.history.length > 0;
  const ended = state.session?.status === 'ended';
  list.replaceChildren(
    ...state.history.map((p) => {
      const isNow = p.playId === state.now?.playId;
      const main =
        state.editing === p.playId
          ? editForm(p)
          : h(
              'div',
              { class: 'play-main' },
              h('p', { class: 'play-title', text: p.title || 'Unknown track' }),
              h('p', { class: 'play-sub', text: [p.artist, bpmText(p.bpm)].filter(Boolean).join(' · ') }),
            );
      return h(
        'li',
        { class: 'play' + (isNow ? ' play-now' : ''), 'data-play-id': p.playId, 'data-testid': 'console-play' },
        h('time', { class: 'play-time', text: clock(ms(p.playedAt)) }),
        main,
        h('span', { class: 'play-heart', title: 'Likes' }, h('span', { class: 'heart', 'aria-hidden': 'true' }), h('span', { class: 'play-likes', 'data-testid': 'console-play-likes', text: String(likes[p.playId] || 0) })),
        !ended &&
          state.editing !== p.playId &&
          h(
            'span',
            { class: 'play-acts' },
            h('button', { class: 'btn btn-ghost btn-small', type: 'button', 'data-act': 'edit', 'aria-label': 'Correct title and artist of ' + p.title, text: 'Edit' }),
            h('button', {
              class: 'btn btn-small ' + (state.hiding === p.playId ? 'btn-danger' : 'btn-ghost'),
              type: 'button',
              'data-act': 'hide',
              'aria-label': (state.hiding === p.playId ? 'Confirm: hide ' : 'Hide from dancers: ') + p.title,
              text: state.hiding === p.playId ? 'Hide?' : 'Hide',
            }),
          ),
      );
    }),
  );
}

/** @param {PlayView} p */
function editForm(p) {
  return h(
    'form',
    { class: 'edit', 'data-act': 'save' },
    h('input', { name: 'title', value: p.title || '', maxlength: '200', required: true, 'aria-label': 'Title' }),
    h('input', { name: 'artist', value: p.artist || '', maxlength: '200', 'aria-label': 'Artist', placeholder: 'Artist' }),
    h('button', { class: 'btn btn-small', type: 'submit', text: 'Save' }),
    h('button', { class: 'btn btn-ghost btn-small', type: 'button', 'data-act': 'unedit', text: 'Cancel' }),
  );
}

let barsFor = '';
/**
 * @param {Poll} p
 * @param {number[] | null} counts
 * @param {number} [winner]
 */
function pollBars(p, counts, winner = -1) {
  const box = byId('poll-bars');
  if (barsFor !== p.id) {
    barsFor = p.id;
    box.replaceChildren(
      ...p.options.map((o, i) =>
        h('div', { class: 'bar-row' }, h('span', { class: 'bar-l', text: o }), h('span', { class: 'bar' }, h('span', { class: 'bar-fill' })), h('span', { class: 'bar-n', 'data-testid': 'console-poll-count-' + i, text: '0' })),
      ),
    );
  }
  const total = counts ? counts.reduce((a, b) => a + (b || 0), 0) : 0;
  box.querySelectorAll('.bar-row').forEach((row, i) => {
    const n = counts?.[i] || 0;
    /** @type {HTMLElement} */ (row.querySelector('.bar-fill')).style.width = (total ? Math.round((n / total) * 100) : 0) + '%';
    /** @type {HTMLElement} */ (row.querySelector('.bar-n')).textContent = String(n);
    row.classList.toggle('win', i === winner);
  });
  byId('poll-total').textContent = total + (total === 1 ? ' vote' : ' votes') + (p.endsAt ? '' : ' · open until you end it');
}

function renderPoll() {
  const p = state.poll;
  byId('poll-live').hidden = !p;
  byId('poll-form').hidden = !!p || state.session?.status === 'ended';
  if (p) {
    byId('poll-q').textContent = p.question;
    pollBars(p, state.tally?.poll?.id === p.id ? state.tally.poll.counts : null);
  }
  const l = state.last;
  const last = byId('poll-last');
  if (!p && l) {
    const r = l.result;
    last.textContent =
      r.reason === 'cancelled'
        ? 'Last poll “' + l.poll.question + '” was cancelled.'
        : 'Last poll “' + l.poll.question + '”: ' + (r.winner >= 0 ? '“' + l.poll.options[r.winner] + '” won with ' + r.counts[r.winner] + ' of ' + r.total + ' votes.' : 'no votes.') + (r.reason === 'timer' ? ' (timer)' : '');
  } else last.textContent = '';
  tick();
}

function renderAnn() {
  const a = state.ann;
  const on = !!a && ms(a.endsAt) > now();
  byId('ann-live').hidden = !on;
  byId('ann-form').hidden = on || state.session?.status === 'ended';
  if (on && a) byId('ann-text').textContent = a.text;
  tick();
}

function tick() {
  const p = state.poll;
  const end = p?.endsAt ? ms(p.endsAt) : NaN;
  byId('poll-left').textContent = p ? (Number.isFinite(end) ? (end > now() ? countdown(end - now()) + ' left' : 'closing…') : 'open') : '';
  const a = state.ann;
  const left = a ? ms(a.endsAt) - now() : 0;
  if (a && left <= 0 && !byId('ann-live').hidden) {
    state.ann = null;
    renderAnn();
  }
  byId('ann-left').textContent = a && left > 0 ? countdown(left) + ' left' : '';
}

/** A burst of hearts over the like count: at most 30, none when motion is reduced. */
function burst(up) {
  const box = byId('burst');
  const big = byId('np-likes');
  big.classList.remove('bump');
  void big.offsetWidth;
  big.classList.add('bump');
  if (reducedMotion.matches) return;
  const n = Math.min(MAX_BURST - box.childElementCount, 6 + up * 4);
  for (let i = 0; i < n; i++) {
    const p = h('span', { class: 'p' });
    p.style.setProperty('--x', Math.round((Math.random() - 0.5) * 220) + 'px');
    p.style.setProperty('--r', Math.round((Math.random() - 0.5) * 60) + 'deg');
    p.style.setProperty('--s', (0.6 + Math.random() * 0.9).toFixed(2));
    p.style.setProperty('--d', Math.round(Math.random() * 500) + 'ms');
    p.style.setProperty('--t', Math.round(1300 + Math.random() * 900) + 'ms');
    p.addEventListener('animationend', () => p.remove());
    box.append(p);
  }
}

// ---- controls -------------------------------------------------------------

/** @param {string[]} values */
function setOptions(values) {
  const box = byId('poll-options');
  box.replaceChildren(
    ...values.map((v, i) =>
      h(
        'div',
        { class: 'opt-row' },
        h('input', { value: v, maxlength: '60', required: true, 'aria-label': 'Option ' + (i + 1), placeholder: 'Option ' + (i + 1), 'data-testid': 'poll-option-input' }),
        h('button', { class: 'btn btn-ghost btn-small', type: 'button', 'data-remove': String(i), 'aria-label': 'Remove option ' + (i + 1), text: '✕', disabled: values.length <= 2 }),
      ),
    ),
  );
  /** @type {HTMLButtonElement} */ (byId('poll-add')).disabled = values.length >= 10;
}

function optionValues() {
  return Array.from(byId('poll-options').querySelectorAll('input'), (i) => i.value);
}

function setupControls() {
  setOptions(['', '']);
  const q = /** @type {HTMLInputElement} */ (byId('poll-question'));
  for (const b of byId('poll-form').querySelectorAll('[data-preset]')) {
    b.addEventListener('click', () => {
      const [question, opts] = PRESETS[/** @type {'tempo'} */ (/** @type {HTMLElement} */ (b).dataset.preset)];
      q.value = question;
      setOptions(opts);
    });
  }
  byId('poll-add').addEventListener('click', () => {
    const v = optionValues();
    if (v.length < 10) setOptions([...v, '']);
    const inputs = byId('poll-options').querySelectorAll('input');
    /** @type {HTMLInputElement} */ (inputs[inputs.length - 1]).focus();
  });
  byId('poll-options').addEventListener('click', (e) => {
    const b = /** @type {HTMLElement} */ (e.target).closest('[data-remove]');
    if (!(b instanceof HTMLElement)) return;
    const v = optionValues();
    v.splice(Number(b.dataset.remove), 1);
    if (v.length >= 2) setOptions(v);
  });
  byId('poll-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const options = optionValues().map((s) => s.trim());
    const question = q.value.trim();
    if (!question) return toast('Write the question first.');
    if (options.some((o) => !o)) return toast('Fill in every option, or remove the empty ones.');
    if (new Set(options).size !== options.length) return toast('Two options are the same.');
    const seconds = Number(/** @type {HTMLSelectElement} */ (byId('poll-seconds')).value) || 0;
    /** @type {Record<string, any>} */
    const f = { question, options };
    if (seconds) f.seconds = seconds;
    const r = await dj('poll.start', f, /** @type {HTMLButtonElement} */ (byId('poll-start')));
    if (r) {
      q.value = '';
      setOptions(['', '']);
    }
  });
  byId('poll-end').addEventListener('click', (e) => {
    if (state.poll) dj('poll.end', { pollId: state.poll.id }, /** @type {HTMLButtonElement} */ (e.currentTarget));
  });
  byId('poll-cancel').addEventListener('click', (e) => {
    if (state.poll) dj('poll.cancel', { pollId: state.poll.id }, /** @type {HTMLButtonElement} */ (e.currentTarget));
  });

  const chips = byId('ann-form').querySelectorAll('[data-min]');
  for (const c of chips) {
    c.addEventListener('click', () => {
      state.annMinutes = Number(/** @type {HTMLElement} */ (c).dataset.min);
      for (const o of chips) o.setAttribute('aria-checked', String(o === c));
    });
  }
  byId('ann-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const input = /** @type {HTMLTextAreaElement} */ (byId('ann-input'));
    const text = input.value.trim();
    if (!text) return toast('Write the message first.');
    const r = await dj('announce', { text, seconds: state.annMinutes * 60 }, /** @type {HTMLButtonElement} */ (byId('ann-send')));
    if (r) input.value = '';
  });
  byId('ann-cancel').addEventListener('click', (e) => dj('announce.cancel', {}, /** @type {HTMLButtonElement} */ (e.currentTarget)));

  byId('pause').addEventListener('click', (e) =>
    dj(state.paused ? 'broadcast.resume' : 'broadcast.pause', {}, /** @type {HTMLButtonElement} */ (e.currentTarget)),
  );
  const dlg = /** @type {HTMLDialogElement} */ (byId('confirm-end'));
  byId('end').addEventListener('click', () => dlg.showModal());
  byId('confirm-no').addEventListener('click', () => dlg.close());
  byId('confirm-yes').addEventListener('click', async (e) => {
    const r = await dj('session.end', {}, /** @type {HTMLButtonElement} */ (e.currentTarget));
    if (r) dlg.close();
  });

  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let hideTimer;
  const hist = byId('hist');
  hist.addEventListener('click', (e) => {
    const b = /** @type {HTMLElement} */ (e.target).closest('button[data-act]');
    const li = b?.closest('li[data-play-id]');
    if (!(b instanceof HTMLButtonElement) || !(li instanceof HTMLElement)) return;
    const playId = li.dataset.playId || '';
    const act = b.dataset.act;
    if (act === 'edit') {
      state.editing = playId;
      state.hiding = '';
      renderHistory();
      /** @type {HTMLInputElement | null} */ (hist.querySelector('form.edit input'))?.focus();
    } else if (act === 'unedit') {
      state.editing = '';
      renderHistory();
    } else if (act === 'hide') {
      clearTimeout(hideTimer);
      if (state.hiding !== playId) {
        // First tap arms it; the second, within 4 s, hides.
        state.hiding = playId;
        hideTimer = setTimeout(() => {
          state.hiding = '';
          renderHistory();
        }, 4000);
        renderHistory();
        return;
      }
      state.hiding = '';
      dj('play.hide', { playId }, b).then(() => renderHistory());
    }
  });
  hist.addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = /** @type {HTMLFormElement} */ (e.target);
    const li = form.closest('li[data-play-id]');
    if (!(li instanceof HTMLElement)) return;
    const title = /** @type {HTMLInputElement} */ (form.elements.namedItem('title')).value.trim();
    const artist = /** @type {HTMLInputElement} */ (form.elements.namedItem('artist')).value.trim();
    if (!title) return toast('A track needs a title.');
    const r = await dj('play.correct', { playId: li.dataset.playId, title, artist }, form.querySelector('button[type="submit"]') || undefined);
    if (r) {
      state.editing = '';
      renderHistory();
    }
  });
  hist.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && state.editing) {
      state.editing = '';
      renderHistory();
    }
  });
  setInterval(() => {
    if (document.visibilityState === 'visible') tick();
  }, 1000);
}

// ---- start ---------------------------------------------------------------

if (!sessionId || !secret) {
  document.body.dataset.view = 'nolink';
} else {
  setupControls();
  // The recap opens with the secret in its fragment, as this page did:
  // there it shows the polls and the CSV download.
  const recap = byId('recap-link');
  recap.setAttribute('href', '/recap/' + sessionId + '#k=' + encodeURIComponent(secret));
  recap.hidden = false;
  conn.start();
}
