// @ts-check
// Likes and unlikes the server has not answered yet, kept in IndexedDB so a
// like tapped in a dead spot of the venue, or just before the phone slept,
// is sent on the next connection as one "likes" batch. An item leaves only
// when the server has answered it (docs/protocol.md, "Dancer actions").

/**
 * @typedef {object} Pending
 * @property {string} id        a ULID, kept across retries: the server dedupes on it
 * @property {string} sessionId
 * @property {string} playId
 * @property {'like' | 'unlike'} kind
 * @property {number} at        epoch ms when tapped
 */

const DB = 'pika';
const STORE = 'outbox';
const WEEK = 7 * 24 * 3600 * 1000;

export class Outbox {
  /** @param {string} sessionId */
  constructor(sessionId) {
    this.sessionId = sessionId;
    /** @type {Map<string, Pending>} by play id: the latest intent per play */
    this.items = new Map();
    /** @type {Promise<IDBDatabase | null>} */
    this.db = open();
  }

  /** Reads what an earlier visit left unsent. */
  async load() {
    const db = await this.db;
    if (!db) return;
    /** @type {Pending[]} */
    const all = await req(db.transaction(STORE).objectStore(STORE).getAll()).catch(() => []);
    const old = Date.now() - WEEK;
    for (const p of all) {
      if (p.at < old) this.drop(p); // a week-old like is not coming back
      else if (p.sessionId === this.sessionId && !this.items.has(p.playId)) this.items.set(p.playId, p);
    }
  }

  /**
   * Queues the latest intent for a play, replacing an unsent earlier one.
   * @param {string} playId
   * @param {'like' | 'unlike'} kind
   * @param {string} id
   */
  put(playId, kind, id) {
    const prev = this.items.get(playId);
    if (prev) this.drop(prev);
    /** @type {Pending} */
    const p = { id, sessionId: this.sessionId, playId, kind, at: Date.now() };
    this.items.set(playId, p);
    this.db.then((db) => db?.transaction(STORE, 'readwrite').objectStore(STORE).put(p)).catch(() => {});
    return p;
  }

  /**
   * Forgets an answered item (if it is still the latest for its play).
   * @param {string} id
   */
  done(id) {
    for (const p of this.items.values()) if (p.id === id) return this.drop(p);
    this.drop({ id });
  }

  /** @returns {Pending[]} oldest first */
  list() {
    return [...this.items.values()].sort((a, b) => a.at - b.at);
  }

  /**
   * @private
   * @param {{id: string, playId?: string}} p
   */
  drop(p) {
    if (p.playId && this.items.get(p.playId)?.id === p.id) this.items.delete(p.playId);
    this.db.then((db) => db?.transaction(STORE, 'readwrite').objectStore(STORE).delete(p.id)).catch(() => {});
  }
}

/** @returns {Promise<IDBDatabase | null>} null where IndexedDB is missing or refused */
function open() {
  return new Promise((resolve) => {
    try {
      const r = indexedDB.open(DB, 1);
      r.onupgradeneeded = () => r.result.createObjectStore(STORE, { keyPath: 'id' });
      r.onsuccess = () => resolve(r.result);
      r.onerror = r.onblocked = () => resolve(null);
    } catch {
      resolve(null);
    }
  });
}

/**
 * @template T
 * @param {IDBRequest<T>} r
 * @returns {Promise<T>}
 */
function req(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}
