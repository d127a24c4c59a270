// Error reporting, on only when the server forwards reports to Sentry: the
// gateway then adds this script to each page. Until an error happens it
// costs two listeners; the reporter (report.js) is fetched only then, from
// this server, and reports at most 5 errors per page load.
let n = 0;
const on = (err) => {
  if (n++ < 5) import('/assets/report.js').then((m) => m.report(err)).catch(() => {});
};
addEventListener('error', (e) => on(e.error || e.message));
addEventListener('unhandledrejection', (e) => on(e.reason));
