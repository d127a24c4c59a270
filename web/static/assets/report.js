// Sends one error to our own /api/errors as a minimal Sentry envelope; the
// gateway scrubs it again, stamps the release and environment, and forwards
// it to Sentry. It never sends the URL's query or fragment (the DJ
// console's secret rides in the fragment), cookies, storage or ids.

const clean = (u) => String(u).replace(/[?#].*$/, '').replace(location.origin, '');

// frames reads "at f (url:1:2)" (Chrome) and "f@url:1:2" (Firefox, Safari)
// lines, oldest call first as Sentry wants them.
function frames(stack) {
  const out = [];
  for (const line of String(stack || '').split('\n').slice(0, 30)) {
    const m = /(?:at\s+(?:(.*?)\s+\()?|^(.*?)@)(.*?):(\d+):(\d+)\)?\s*$/.exec(line.trim());
    if (m) out.push({ function: (m[1] || m[2] || '?').slice(0, 80), filename: clean(m[3]), lineno: +m[4], colno: +m[5] });
  }
  return out.reverse();
}

function hex(bytes) {
  const b = new Uint8Array(bytes);
  crypto.getRandomValues(b); // randomUUID needs https; a venue's LAN is http
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export function report(err) {
  const isError = err instanceof Error;
  const id = hex(16);
  const event = {
    event_id: id,
    timestamp: Date.now() / 1000,
    platform: 'javascript',
    level: 'error',
    exception: {
      values: [{
        type: isError ? err.name : 'Error',
        value: String(isError ? err.message : err).slice(0, 500),
        stacktrace: { frames: isError ? frames(err.stack) : [] },
      }],
    },
    request: { url: location.origin + location.pathname },
    tags: { page: location.pathname.split('/')[1] || 'lobby' },
  };
  const body = JSON.stringify({ event_id: id, sent_at: new Date().toISOString() }) + '\n' +
    JSON.stringify({ type: 'event' }) + '\n' + JSON.stringify(event) + '\n';
  return fetch('/api/errors', { method: 'POST', body, keepalive: true }).catch(() => {});
}
