// @ts-check
// "My likes", /me: the dancer's journal, read by the anonymous id the
// dancer page keeps in localStorage (pika.clientId), grouped by night and
// DJ, with the deletion of everything the server keeps of that id.

import { h, byId, ms, clock, bpmText, toast } from './util.js';
import { getJSON, dayText, count, heart, reasonOf } from './pages.js';

/**
 * @typedef {{playId: string, likedAt: string, sessionId: string, djId: string, djName: string, sessionStartedAt: string, playedAt: string, title: string, artist?: string, bpm?: number}} Like
 * @typedef {{likes: number, tempoVotes: number, pollVotes: number, reactions: number}} Kept
 */

const clientId = readClientId();

/** The id the dancer page made; '' on a phone that never opened one. */
function readClientId() {
  try {
    const id = localStorage.getItem('pika.clientId') || '';
    return /^[A-Za-z0-9_-]{8,64}$/.test(id) ? id : '';
  } catch {
    return '';
  }
}

const url = () => '/api/clients/' + encodeURIComponent(clientId) + '/likes';

async function load() {
  if (!clientId) {
    show([], null);
    return;
  }
  byId('status').textContent = '';
  const r = await getJSON(url());
  if (r.status === 503 && r.body?.code === 'no_database') {
    byId('nodb-text').textContent = r.body.reason || byId('nodb-text').textContent;
    document.body.dataset.view = 'nodb';
    return;
  }
  if (r.status !== 200 || !r.body) {
    byId('status').textContent = reasonOf(r);
    if (document.body.dataset.view === 'loading') document.body.dataset.view = 'error';
    return;
  }
  show(r.body.likes || [], r.body.kept || null);
}

/**
 * @param {Like[]} likes newest first
 * @param {Kept | null} kept
 */
function show(likes, kept) {
  /** @type {Map<string, Like[]>} */
  const nights = new Map();
  for (const l of likes) {
    const list = nights.get(l.sessionId);
    if (list) list.push(l);
    else nights.set(l.sessionId, [l]);
  }
  byId('nights').replaceChildren(...[...nights.values()].map(night));
  byId('empty').hidden = likes.length > 0;
  byId('me-sub').textContent = likes.length
    ? count(likes.length, 'track') + ' liked over ' + count(nights.size, 'night') + '.'
    : 'The tracks you liked on this phone, night by night.';
  const total = kept ? kept.likes + kept.tempoVotes + kept.pollVotes + kept.reactions : 0;
  byId('keep').hidden = total === 0;
  if (kept) {
    byId('keep-counts').textContent =
      [count(kept.likes, 'like'), count(kept.tempoVotes, 'tempo vote'), count(kept.pollVotes, 'poll vote'), count(kept.reactions, 'thank-you')].join(', ') + '.';
  }
  document.body.dataset.view = likes.length ? 'list' : 'empty';
}

/** @param {Like[]} likes one night's, newest first */
function night(likes) {
  const first = likes[0];
  const start = ms(first.sessionStartedAt);
  const plays = [...likes].sort((a, b) => ms(a.playedAt) - ms(b.playedAt));
  const dj = first.djName || 'A Pika! session';
  return h(
    'li',
    { class: 'night card', 'data-testid': 'journal-night' },
    h(
      'div',
      { class: 'night-h' },
      h(
        'div',
        {},
        h('h2', { class: 'night-dj' }, first.djId ? h('a', { href: '/dj/' + encodeURIComponent(first.djId), text: dj }) : dj),
        h('p', { class: 'night-when', text: dayText(start) + ' · ' + count(likes.length, 'like') }),
      ),
      h('a', { class: 'night-go', href: '/recap/' + encodeURIComponent(first.sessionId), text: 'Recap ›', 'aria-label': 'Recap of ' + dj + ', ' + dayText(start) }),
    ),
    h(
      'ol',
      { class: 'tracks' },
      ...plays.map((l) =>
        h(
          'li',
          { class: 'track', 'data-testid': 'journal-like' },
          heart(true),
          h('div', { class: 'track-main' }, h('p', { class: 'track-title', text: l.title }), h('p', { class: 'track-sub', text: [l.artist, bpmText(l.bpm)].filter(Boolean).join(' · ') })),
          h('time', { class: 'track-time', datetime: l.playedAt, text: clock(ms(l.playedAt)) }),
        ),
      ),
    ),
  );
}

const dialog = /** @type {HTMLDialogElement} */ (byId('confirm'));
byId('delete').addEventListener('click', () => dialog.showModal());
byId('confirm-no').addEventListener('click', () => dialog.close());
byId('confirm-yes').addEventListener('click', async () => {
  const yes = /** @type {HTMLButtonElement} */ (byId('confirm-yes'));
  yes.disabled = true;
  const r = await getJSON(url(), { method: 'DELETE' });
  yes.disabled = false;
  dialog.close();
  if (r.status !== 200) {
    toast(reasonOf(r));
    return;
  }
  toast('Deleted: ' + count(r.body?.deleted ?? 0, 'record') + ' removed from this server.');
  show([], { likes: 0, tempoVotes: 0, pollVotes: 0, reactions: 0 });
});

load();
