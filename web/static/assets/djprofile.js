// @ts-check
// A DJ's profile, /dj/{djId}: their name and nights (by DJ id only: two DJs
// who share a name are two profiles), each linking to its recap.

import { h, byId, ms, clock } from './util.js';
import { getJSON, dayText, count, heart, sharePage, reasonOf } from './pages.js';

/**
 * @typedef {{id: string, djName: string, startedAt: string, endedAt?: string, status: string, trackCount: number, likes: number}} Session
 * @typedef {{id: string, name: string, since: string, sessions: Session[], totals: {sessions: number, tracks: number, likes: number}}} Profile
 */

const djId = decodeURIComponent(location.pathname.split('/')[2] || '');

async function load() {
  byId('status').textContent = '';
  const r = await getJSON('/api/djs/' + encodeURIComponent(djId));
  if (r.status === 404 || r.status === 400) {
    document.body.dataset.view = 'missing';
    return;
  }
  if (r.status === 503 && r.body?.code === 'no_database') {
    document.body.dataset.view = 'nodb';
    return;
  }
  if (r.status !== 200 || !r.body) {
    byId('status').textContent = reasonOf(r);
    return;
  }
  render(/** @type {Profile} */ (r.body));
  document.body.dataset.view = 'profile';
}

/** @param {Profile} p */
function render(p) {
  const name = p.name || 'A Pika! DJ';
  byId('dj-h').textContent = name;
  document.title = name + ' · Pika!';
  const since = ms(p.since);
  byId('dj-since').textContent = Number.isFinite(since) && since > 0
    ? 'On Pika! since ' + new Date(since).toLocaleDateString([], { month: 'long', year: 'numeric' })
    : '';
  byId('st-sessions').textContent = String(p.totals.sessions);
  byId('st-tracks').textContent = String(p.totals.tracks);
  byId('st-likes').textContent = String(p.totals.likes);
  byId('sessions').replaceChildren(...p.sessions.map(session));
}

/** @param {Session} s */
function session(s) {
  const start = ms(s.startedAt);
  const end = ms(s.endedAt);
  const live = s.status === 'live';
  return h(
    'li',
    {},
    h(
      'a',
      { class: 'sess card', href: (live ? '/s/' : '/recap/') + encodeURIComponent(s.id), 'data-testid': 'profile-session' },
      h(
        'div',
        { class: 'sess-top' },
        h('div', {}, h('h3', { class: 'night-dj', text: dayText(start) }), h('p', { class: 'night-when', text: Number.isFinite(end) ? clock(start) + '–' + clock(end) : 'since ' + clock(start) })),
      ),
      h(
        'p',
        { class: 'sess-meta' },
        live ? h('span', { class: 'badge', text: 'Live' }) : null,
        h('span', { class: 'sess-nums', text: count(s.trackCount, 'track') }),
        h('span', { class: 'rc-likes' + (s.likes ? ' has' : ''), 'aria-label': count(s.likes, 'like') }, heart(), String(s.likes)),
      ),
    ),
  );
}

byId('share-btn').addEventListener('click', () => sharePage(document.title, (byId('dj-h').textContent || 'A DJ') + ' on Pika!'));
if (!/^dj[a-z2-7]{16}$/.test(djId)) document.body.dataset.view = 'missing';
else load();
