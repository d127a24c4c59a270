// @ts-check
// The recap, /recap/{id}: the night's tracks with their likes and tempo
// votes, the most liked one first. A DJ who opens it from the console
// (/recap/{id}#k=<secret>) also sees polls, thank-yous and hidden tracks,
// and can download the CSV. The secret comes in the URL fragment (never
// sent to a server), is kept in this tab's sessionStorage, and travels only
// in an Authorization header.

import { h, byId, ms, clock, bpmText, toast } from './util.js';
import { getJSON, dayText, count, heart, tempoMeter, sharePage, reasonOf } from './pages.js';

/**
 * @typedef {{slower: number, perfect: number, faster: number}} Tempo
 * @typedef {{position: number, playId: string, playedAt: string, title: string, artist?: string, bpm?: number, key?: string, likes: number, tempo: Tempo, hidden?: boolean}} Play
 * @typedef {{id: string, question: string, options: string[], closedAt?: string, closeReason?: string, counts: number[], total: number, winner: number}} Poll
 * @typedef {{id: string, djId: string, djName: string, startedAt: string, endedAt?: string, status: string}} Session
 * @typedef {{session: Session, owner: boolean, trackCount: number, totalLikes: number, tempo: Tempo, mostLiked?: string, plays: Play[], thanks?: number, polls?: Poll[]}} Recap
 */

const sessionId = decodeURIComponent(location.pathname.split('/')[2] || '').toUpperCase();
let secret = readSecret();

/** The DJ secret from #k=…, or from this tab's sessionStorage. */
function readSecret() {
  const key = 'pika.dj.' + sessionId;
  const frag = new URLSearchParams(location.hash.slice(1));
  let k = frag.get('k') || '';
  try {
    if (k) sessionStorage.setItem(key, k);
    else k = sessionStorage.getItem(key) || '';
  } catch {
    /* storage refused: the fragment alone must do */
  }
  // Out of the address bar, so sharing this page never shares the secret.
  if (frag.has('k')) history.replaceState(null, '', location.pathname);
  return k;
}

function forgetSecret() {
  secret = '';
  try {
    sessionStorage.removeItem('pika.dj.' + sessionId);
  } catch {
    /* ignore */
  }
}

/** @param {string} view */
function setView(view) {
  document.body.dataset.view = view;
}

async function load() {
  const url = '/api/sessions/' + encodeURIComponent(sessionId) + '/recap';
  byId('status').textContent = '';
  let r = secret ? await getJSON(url, { headers: { Authorization: 'Bearer ' + secret } }) : await getJSON(url);
  if (secret && (r.status === 403 || r.status === 503)) {
    // Not the DJ after all, or the DJ's laptop is away: the public recap.
    byId('djv-note').textContent = r.status === 403 ? 'This DJ link does not match this session, so this is the public recap.' : reasonOf(r);
    if (r.status === 403) forgetSecret();
    r = await getJSON(url);
  }
  if (r.status === 404 || r.status === 400) {
    setView('missing');
    return;
  }
  if (r.status !== 200 || !r.body) {
    byId('status').textContent = reasonOf(r) + ' ';
    byId('status').append(retryButton());
    if (document.body.dataset.view === 'loading') document.body.dataset.view = 'error';
    return;
  }
  render(/** @type {Recap} */ (r.body));
  setView(r.body.owner ? 'owner' : 'public');
}

function retryButton() {
  const b = h('button', { class: 'btn btn-ghost btn-small', type: 'button', text: 'Try again' });
  b.addEventListener('click', load);
  return b;
}

/** @param {Recap} r */
function render(r) {
  const s = r.session;
  const start = ms(s.startedAt);
  const name = s.djName || 'A Pika! session';
  const dj = byId('rc-dj');
  dj.replaceChildren(s.djId ? h('a', { href: '/dj/' + encodeURIComponent(s.djId), text: name }) : name);
  const end = ms(s.endedAt);
  byId('rc-when').textContent = [dayText(start), Number.isFinite(end) ? clock(start) + '–' + clock(end) : 'since ' + clock(start)].filter(Boolean).join(' · ');
  byId('rc-kicker').textContent = s.status === 'live' ? 'Live now · recap so far' : 'Recap';
  const live = byId('rc-live');
  live.hidden = s.status !== 'live';
  byId('rc-live-link').setAttribute('href', '/s/' + encodeURIComponent(s.id));
  const votes = r.tempo.slower + r.tempo.perfect + r.tempo.faster;
  byId('st-tracks').textContent = String(r.trackCount);
  byId('st-likes').textContent = String(r.totalLikes);
  byId('st-votes').textContent = String(votes);
  document.title = name + ' · ' + dayText(start) + ' · Pika! recap';

  const best = r.plays.find((p) => p.playId === r.mostLiked);
  byId('best').hidden = !best;
  if (best) {
    byId('best-title').textContent = best.title;
    byId('best-artist').textContent = best.artist || '';
    byId('best-n').replaceChildren(heart(true), count(best.likes, 'like'));
  }

  byId('tempo').hidden = votes === 0;
  byId('tempo-meter').replaceChildren(tempoMeter(r.tempo));
  byId('tempo-legend').replaceChildren(
    h('span', { class: 'l-slower', text: '🐢 ' + r.tempo.slower + ' slower' }),
    h('span', { class: 'l-perfect', text: '👌 ' + r.tempo.perfect + ' perfect' }),
    h('span', { class: 'l-faster', text: '🐇 ' + r.tempo.faster + ' faster' }),
  );

  byId('list').replaceChildren(...r.plays.map((p) => row(p, p.playId === r.mostLiked)));
  byId('list-empty').hidden = r.plays.length > 0;
  renderOwner(r);
}

/**
 * @param {Play} p
 * @param {boolean} isBest
 */
function row(p, isBest) {
  const t = p.tempo;
  const votes = t.slower + t.perfect + t.faster;
  const sub = [p.artist, bpmText(p.bpm), p.key, clock(ms(p.playedAt))].filter(Boolean).join(' · ');
  const title = h('p', { class: 'track-title', text: p.title });
  if (p.hidden) title.append(h('span', { class: 'chip', text: 'Hidden' }));
  if (isBest) title.append(h('span', { class: 'chip chip-best', text: 'Top' }));
  return h(
    'li',
    { class: 'rc-row' + (isBest ? ' rc-best' : '') + (p.hidden ? ' rc-hidden' : ''), 'data-play': p.playId, 'data-testid': 'recap-row' },
    h('span', { class: 'rc-pos', text: String(p.position) }),
    h(
      'div',
      { class: 'track-main' },
      title,
      h('p', { class: 'track-sub', text: sub }),
      votes ? tempoMeter(t) : null,
      votes ? h('p', { class: 'rc-votes', text: '🐢 ' + t.slower + '  👌 ' + t.perfect + '  🐇 ' + t.faster }) : null,
    ),
    h('span', { class: 'rc-likes' + (p.likes ? ' has' : ''), 'aria-label': count(p.likes, 'like'), 'data-testid': 'recap-row-likes' }, heart(), String(p.likes)),
  );
}

/** @param {Recap} r */
function renderOwner(r) {
  const box = byId('djv');
  box.hidden = !r.owner;
  if (!r.owner) return;
  byId('djv-thanks').textContent = '🙏 ' + count(r.thanks || 0, 'thank-you') + ' from the floor' + (r.plays.some((p) => p.hidden) ? ' · hidden tracks are marked' : '');
  const polls = r.polls || [];
  byId('polls').replaceChildren(
    ...(polls.length ? polls.map(pollResult) : [h('p', { class: 'poll-meta', text: 'No polls in this session.' })]),
  );
}

/** @param {Poll} p */
function pollResult(p) {
  const cancelled = p.closeReason === 'cancelled';
  const state = !p.closedAt ? 'still open' : cancelled ? 'cancelled' : p.closeReason === 'timer' ? 'closed by its timer' : 'ended';
  return h(
    'div',
    { class: 'poll-r', 'data-testid': 'recap-poll' },
    h('h3', { text: p.question }),
    ...p.options.map((o, i) => {
      const n = p.counts[i] || 0;
      const fill = h('span', {});
      fill.style.width = p.total ? (100 * n) / p.total + '%' : '0';
      return h(
        'div',
        { class: 'pr-row' + (i === p.winner && !cancelled ? ' win' : '') },
        h('span', { class: 'pr-l', text: (i === p.winner && !cancelled ? '🏆 ' : '') + o }),
        h('span', { class: 'meter', role: 'img', 'aria-label': count(n, 'vote') }, fill),
        h('span', { class: 'pr-n', text: String(n) }),
      );
    }),
    h('p', { class: 'poll-meta', text: count(p.total, 'vote') + ' · ' + state }),
  );
}

/** The DJ's CSV: fetched with the secret in a header, saved from a blob. */
async function downloadCSV() {
  const btn = /** @type {HTMLButtonElement} */ (byId('csv'));
  btn.disabled = true;
  try {
    const r = await fetch('/api/sessions/' + encodeURIComponent(sessionId) + '/recap.csv', {
      cache: 'no-store',
      headers: { Authorization: 'Bearer ' + secret },
    });
    if (!r.ok) {
      let reason = 'The CSV could not be made (HTTP ' + r.status + ').';
      try {
        reason = (await r.json()).reason || reason;
      } catch {
        /* not JSON */
      }
      toast(reason);
      return;
    }
    const name = /filename="([^"]+)"/.exec(r.headers.get('Content-Disposition') || '')?.[1] || 'pika-recap.csv';
    const url = URL.createObjectURL(await r.blob());
    const a = h('a', { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch {
    toast('Can’t reach the server. Try again.');
  } finally {
    btn.disabled = false;
  }
}

byId('csv').addEventListener('click', downloadCSV);
byId('share-btn').addEventListener('click', () => {
  const name = byId('rc-dj').textContent || 'Pika!';
  const text = name + ': ' + byId('st-tracks').textContent + ' tracks, ' + byId('st-likes').textContent + ' likes from the floor.';
  sharePage(document.title, text);
});
if (!/^[0-7][0-9A-HJKMNP-TV-Z]{25}$/.test(sessionId)) setView('missing');
else load();
