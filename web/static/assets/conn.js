// @ts-check
// One WebSocket to the gateway that survives bad Wi-Fi and sleeping phones
// (docs/protocol.md): jittered exponential backoff, a ping every 15 s while
// the page is visible, 35 s without any frame counts as dead, and an
// immediate reconnect when the phone wakes up or comes back online.

import { setSkew } from './util.js';

/** @typedef {{type: string, ref?: string | number, [k: string]: any}} Frame */
/** @typedef {'connecting' | 'open' | 'retrying'} ConnState */
/**
 * @typedef {object} Handlers
 * @property {() => void} open            the socket is open: subscribe now
 * @property {(f: Frame) => void} frame   every frame from the server
 * @property {(s: ConnState, attempt: number) => void} state
 */

export const PING_EVERY = 15000;
export const DEAD_AFTER = 35000;
export const CONNECT_TIMEOUT = 10000;
export const WAKE_AFTER = 5000;
const TICK = 2500;

/**
 * Delay before reconnect attempt n (0-based): 0.5 s doubling to 10 s, ±50 %.
 * @param {number} attempt
 */
export function backoff(attempt) {
  const base = Math.min(10000, 500 * 2 ** Math.min(attempt, 10));
  return Math.round(base * (0.5 + Math.random()));
}

export class Conn {
  /**
   * @param {string} url
   * @param {Handlers} on
   */
  constructor(url, on) {
    this.url = url;
    this.on = on;
    /** @type {WebSocket | null} */
    this.ws = null;
    this.attempt = 0;
    this.stopped = false;
    this.lastFrame = 0;
    this.lastPing = 0;
    this.openedAt = 0;
    this.hiddenAt = 0;
    this.everOpen = false;
    this.n = 0;
    /** @type {Map<string, {frame: Frame, at: number, cb?: (reply: Frame) => void}>} */
    this.pending = new Map();
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.retry = undefined;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.ticker = undefined;
  }

  start() {
    this.ticker = setInterval(() => this.tick(), TICK);
    document.addEventListener('visibilitychange', () => this.onVisibility());
    window.addEventListener('pageshow', (e) => {
      if (e.persisted) this.now();
    });
    window.addEventListener('online', () => this.now());
    window.addEventListener('offline', () => this.drop());
    this.connect();
  }

  /** Closes the socket for good (an unknown session, say). */
  stop() {
    this.stopped = true;
    clearTimeout(this.retry);
    clearInterval(this.ticker);
    this.detach(1000);
  }

  /** Reconnects at once, forgetting the backoff. */
  now() {
    if (this.stopped) return;
    this.attempt = 0;
    this.detach(1000);
    this.connect();
  }

  /** The subscription worked: the next failure starts the backoff over. */
  healthy() {
    this.attempt = 0;
  }

  /** Whether a frame sent now would go out. */
  get open() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  /**
   * Sends a frame with a fresh ref. The reply (ok, error or pong) goes to cb.
   * @param {Frame} frame
   * @param {(reply: Frame) => void} [cb]
   * @returns {boolean} whether it was sent
   */
  send(frame, cb) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    const ref = String(++this.n);
    frame.ref = ref;
    this.pending.set(ref, { frame, at: Date.now(), cb });
    ws.send(JSON.stringify(frame));
    return true;
  }

  /** @private */
  connect() {
    clearTimeout(this.retry);
    this.retry = undefined;
    this.on.state(this.attempt === 0 && !this.everOpen ? 'connecting' : 'retrying', this.attempt);
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.schedule(1011);
      return;
    }
    this.ws = ws;
    this.openedAt = this.lastFrame = Date.now();
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.everOpen = true;
      this.lastFrame = Date.now();
      this.lastPing = 0; // the first tick pings: its pong tells the server's clock
      this.on.state('open', this.attempt);
      this.on.open();
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      this.lastFrame = Date.now();
      let f;
      try {
        f = JSON.parse(String(ev.data));
      } catch {
        return;
      }
      if (!f || typeof f !== 'object' || typeof f.type !== 'string') return;
      // Events carry a "ref" object of their own ({"id": …}): only a string
      // or number ref is a reply to one of ours.
      if (typeof f.ref === 'string' || typeof f.ref === 'number') {
        const p = this.pending.get(String(f.ref));
        if (p) {
          this.pending.delete(String(f.ref));
          if (f.type === 'pong') this.clock(f, p.at);
          if (p.cb) p.cb(f);
        }
      }
      this.on.frame(f);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.pending.clear();
      this.schedule(ev.code);
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  /**
   * Plans the next attempt after a close with this code.
   * @private
   * @param {number} code
   */
  schedule(code) {
    if (this.stopped) return;
    clearTimeout(this.retry);
    let delay;
    if (code === 4000) delay = 0; // too slow: come straight back, resume from lastSeq
    else if (code === 1008) delay = 10000 + backoff(this.attempt++); // flood: later
    else delay = backoff(this.attempt++);
    this.on.state('retrying', this.attempt);
    this.retry = setTimeout(() => this.connect(), delay);
  }

  /**
   * Abandons the current socket and schedules a reconnect.
   * @private
   */
  drop() {
    if (this.stopped || !this.ws) return;
    this.detach(4001);
    this.schedule(0);
  }

  /**
   * Closes the current socket without hearing from it again.
   * @private
   * @param {number} code
   */
  detach(code) {
    const ws = this.ws;
    this.ws = null;
    this.pending.clear();
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close(code);
    } catch {
      /* already closed */
    }
  }

  /** @private */
  tick() {
    const ws = this.ws;
    if (!ws || document.visibilityState !== 'visible') return;
    const t = Date.now();
    if (ws.readyState === WebSocket.CONNECTING && t - this.openedAt > CONNECT_TIMEOUT) {
      this.drop();
    } else if (ws.readyState === WebSocket.OPEN) {
      if (t - this.lastFrame > DEAD_AFTER) this.drop();
      else if (t - this.lastPing >= PING_EVERY) {
        this.lastPing = t;
        this.send({ type: 'ping' });
      }
    }
    for (const [ref, p] of this.pending) if (t - p.at > 60000) this.pending.delete(ref);
  }

  /** @private */
  onVisibility() {
    if (document.visibilityState !== 'visible') {
      this.hiddenAt = Date.now();
      return;
    }
    const slept = this.hiddenAt && Date.now() - this.hiddenAt > WAKE_AFTER;
    this.hiddenAt = 0;
    // A phone that slept in a pocket often holds a socket that is already
    // dead without knowing it: start a fresh one rather than wait 35 s.
    if (slept || !this.ws) this.now();
  }

  /**
   * Learns the server's clock from a pong, so "3 min ago" is right even on a
   * phone whose clock is off.
   * @private
   * @param {Frame} f
   * @param {number} sentAt
   */
  clock(f, sentAt) {
    const server = Date.parse(String(f.serverTime));
    const t = Date.now();
    if (Number.isFinite(server) && t - sentAt < 3000) setSkew(server - (sentAt + t) / 2);
  }
}
