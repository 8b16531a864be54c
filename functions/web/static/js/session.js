// Session expiry the parent can see coming (WCAG 2.2.1): a warning before the idle expiry, one action to stay.

import { $ } from "./dom.js";

// The server's idle expiry is 30 minutes after its last slide, and it slides at most every 5 minutes: so the
// session surely lives 25 minutes after the last answer. Warn 2 minutes before that.
const SURE_LIFE_MS = 25 * 60 * 1000;
const WARN_BEFORE_MS = 2 * 60 * 1000;

let warnTimer = null;
let expireTimer = null;
let handlers = null;

export function startSessionWatch(onStay, onExpire) {
  handlers = { onStay, onExpire };
  $("session-stay").addEventListener("click", async () => {
    $("session-dialog").close();
    await handlers.onStay();
  });
  $("session-leave").addEventListener("click", () => {
    $("session-dialog").close();
    stopSessionWatch();
    handlers.onExpire(false);
  });
}

export function sessionActivity() {
  if (!handlers) return;
  clearTimeout(warnTimer);
  clearTimeout(expireTimer);
  warnTimer = setTimeout(() => {
    const dialog = $("session-dialog");
    if (!dialog.open) dialog.showModal();
  }, SURE_LIFE_MS - WARN_BEFORE_MS);
  expireTimer = setTimeout(() => {
    const dialog = $("session-dialog");
    if (dialog.open) dialog.close();
    handlers.onExpire(true);
  }, SURE_LIFE_MS);
}

export function stopSessionWatch() {
  clearTimeout(warnTimer);
  clearTimeout(expireTimer);
  warnTimer = null;
  expireTimer = null;
}
